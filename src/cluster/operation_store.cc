#include "cluster/operation_store.h"

#include "workflow/codec.h"

namespace polarstack::cluster {

std::string operation_id(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string progress_of(const workflow::Instance& inst) {
  if (inst.steps.empty()) return "";
  size_t done = 0;
  for (const auto& s : inst.steps) done += s.state == workflow::StepState::kDone ? 1 : 0;
  std::string p = std::to_string(done) + "/" + std::to_string(inst.steps.size());
  size_t cur = inst.current();
  if (!inst.cancelling && cur < inst.steps.size() && !workflow::is_finished(inst.phase)) p += " " + inst.steps[cur].name;
  if (inst.cancelling && !workflow::is_finished(inst.phase)) p += " (cancelling)";
  return p;
}

int64_t OperationStore::observed_generation(const std::string& id) const {
  auto it = observed_.find(id);
  return it == observed_.end() ? 0 : it->second;
}

core::Status OperationStore::save(const workflow::Instance& inst) {
  auto slash = inst.id.find('/');
  core::Json status = workflow::to_json(inst);
  status["progress"] = progress_of(inst);
  status["observedGeneration"] = observed_generation(inst.id);
  auto r = api_.write_operation_status(inst.id.substr(0, slash), inst.id.substr(slash + 1), status);
  if (!r) return core::fail(r.error());
  return {};
}

}  // namespace polarstack::cluster
