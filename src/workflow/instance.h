// The persisted state of one workflow run. Everything the engine needs to resume after
// a crash is here; it is saved through the InstanceStore port after every transition.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace polarstack::workflow {

using Context = std::map<std::string, std::string>;
using TimePoint = std::chrono::system_clock::time_point;

enum class Phase { kPending, kRunning, kWaiting, kSucceeded, kFailed, kInterrupted, kCancelled };
enum class StepState { kPending, kRunning, kWaiting, kDone, kFailed, kSkipped };

const char* phase_name(Phase p);
const char* step_state_name(StepState s);
core::Result<Phase> parse_phase(const std::string& s);
core::Result<StepState> parse_step_state(const std::string& s);
bool is_finished(Phase p);  // Succeeded or Cancelled: nothing more will happen

struct StepRecord {
  std::string name;
  StepState state = StepState::kPending;
  int attempts = 0;         // attempts since the step last succeeded or was resumed
  std::string last_error;
  TimePoint started_at{};   // first attempt
  TimePoint finished_at{};
};

struct Instance {
  std::string id;
  std::string definition;
  Phase phase = Phase::kPending;
  std::string reason;   // typed: RetryBudgetExhausted, Superseded, Cancelled, ...
  std::string message;
  std::vector<StepRecord> steps;       // the definition's steps
  std::vector<StepRecord> compensation;  // filled when a cancel runs compensation steps
  bool cancelling = false;
  Context context;                     // outputs of finished steps
  TimePoint next_run_at{};             // retry backoff and waits survive restarts
  TimePoint started_at{};
  TimePoint finished_at{};
  // Not persisted: when this process last saved a waiting step's attempt before running
  // it again (Engine::step writes that at most every kWaitRecordEvery).
  TimePoint wait_recorded_at{};

  // Index of the first step that is not Done/Skipped in the active list; size() if none.
  size_t current() const;
  const std::vector<StepRecord>& active() const { return cancelling ? compensation : steps; }
  std::vector<StepRecord>& active() { return cancelling ? compensation : steps; }
};

// Persistence port. save() must be durable before it returns: the engine runs a step
// only after the attempt is recorded, and reports a result only after it is saved.
class InstanceStore {
 public:
  virtual ~InstanceStore() = default;
  virtual core::Status save(const Instance& inst) = 0;
};

}  // namespace polarstack::workflow
