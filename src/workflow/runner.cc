#include "workflow/runner.h"

namespace polarstack::workflow {

void Runner::add(Instance inst) {
  std::string id = inst.id;
  instances_[id] = std::move(inst);
}

const Instance* Runner::get(const std::string& id) const {
  auto it = instances_.find(id);
  return it == instances_.end() ? nullptr : &it->second;
}

void Runner::poke(const std::string& id, TimePoint now) {
  auto it = instances_.find(id);
  if (it != instances_.end() && it->second.next_run_at > now) it->second.next_run_at = now;
}

std::optional<TimePoint> Runner::run_due(std::vector<std::string>* failed) {
  std::optional<TimePoint> earliest;
  for (auto it = instances_.begin(); it != instances_.end();) {
    auto p = engine_.advance(it->second);
    if (!p) {
      if (failed) failed->push_back(it->first);
      it = instances_.erase(it);
      continue;
    }
    if (p->next && (!earliest || *p->next < *earliest)) earliest = p->next;
    ++it;
  }
  return earliest;
}

}  // namespace polarstack::workflow
