#include "workflow/instance.h"

namespace polarstack::workflow {

namespace {
const char* kPhases[] = {"Pending", "Running", "Waiting", "Succeeded", "Failed", "Interrupted", "Cancelled"};
const char* kStates[] = {"Pending", "Running", "Waiting", "Done", "Failed", "Skipped"};
}  // namespace

const char* phase_name(Phase p) { return kPhases[static_cast<int>(p)]; }
const char* step_state_name(StepState s) { return kStates[static_cast<int>(s)]; }

core::Result<Phase> parse_phase(const std::string& s) {
  if (s.empty()) return Phase::kPending;
  for (int i = 0; i < 7; ++i) if (s == kPhases[i]) return static_cast<Phase>(i);
  return core::fail(core::Code::kInvalid, "unknown workflow phase \"" + s + "\"");
}

core::Result<StepState> parse_step_state(const std::string& s) {
  if (s.empty()) return StepState::kPending;
  for (int i = 0; i < 6; ++i) if (s == kStates[i]) return static_cast<StepState>(i);
  return core::fail(core::Code::kInvalid, "unknown step state \"" + s + "\"");
}

bool is_finished(Phase p) { return p == Phase::kSucceeded || p == Phase::kCancelled; }

size_t Instance::current() const {
  const auto& list = active();
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].state != StepState::kDone && list[i].state != StepState::kSkipped) return i;
  }
  return list.size();
}

}  // namespace polarstack::workflow
