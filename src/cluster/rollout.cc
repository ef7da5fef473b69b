#include "cluster/rollout.h"

#include <set>

#include "api/parameters.h"

namespace polarstack::cluster {

namespace {
std::string value_in(const Parameters& m, const std::string& n) {
  auto it = m.find(n);
  return it == m.end() ? std::string() : it->second;
}
}  // namespace

ParameterRollout plan_parameters(const Parameters& current, const Parameters& next) {
  ParameterRollout r;
  std::set<std::string> names;
  for (const auto& [n, v] : current) names.insert(n);
  for (const auto& [n, v] : next) names.insert(n);
  std::string raised;
  for (const auto& n : names) {
    auto a = current.find(n), b = next.find(n);
    bool same = (a == current.end()) == (b == next.end()) && (a == current.end() || a->second == b->second);
    if (same) continue;
    r.changed.push_back(n);
    // The same value spelled otherwise (or set to its default) changes nothing PostgreSQL
    // runs with: no restart for it.
    auto before = api::parameter_number(n, a == current.end() ? api::parameter_default(n) : a->second);
    auto after = api::parameter_number(n, b == next.end() ? api::parameter_default(n) : b->second);
    if (before && after && *before == *after) continue;
    if (api::parameter_needs_restart(n)) r.need_restart.push_back(n);
    if (!api::standby_must_not_be_lower(n)) continue;
    int dir = api::parameter_direction(n, value_in(current, n), value_in(next, n));
    if (dir > 0 && raised.empty()) raised = n;
    if (dir < 0 && r.lowered.empty()) r.lowered = n;
  }
  if (r.changed.empty()) return r;
  if (!raised.empty() && !r.lowered.empty()) {
    r.refused = raised + " goes up and " + r.lowered + " down: a replica must hold both at least as high as its "
                "primary, so a raise rolls out to the replicas first and a lowering to the primary first; change "
                "them in two updates";
    return r;
  }
  if (r.need_restart.empty()) {
    r.mode = ParameterRollout::Mode::kReload;
    r.lowered.clear();  // (only postmaster parameters are ordered)
  } else {
    r.mode = r.lowered.empty() ? ParameterRollout::Mode::kReplicasFirst : ParameterRollout::Mode::kPrimaryFirst;
  }
  return r;
}

RolloutOrder rollout_order(ParameterRollout::Mode mode, const std::string& primary,
                           const std::vector<std::string>& replicas) {
  RolloutOrder o;
  switch (mode) {
    case ParameterRollout::Mode::kNothing:
      break;
    case ParameterRollout::Mode::kReload:
    case ParameterRollout::Mode::kPrimaryFirst:
      o.in_place.push_back(primary);
      o.in_place.insert(o.in_place.end(), replicas.begin(), replicas.end());
      break;
    case ParameterRollout::Mode::kReplicasFirst:
      o.in_place = replicas;
      if (replicas.empty()) o.in_place.push_back(primary);
      o.switchover = !replicas.empty();
      break;
  }
  return o;
}

const char* mode_name(ParameterRollout::Mode mode) {
  switch (mode) {
    case ParameterRollout::Mode::kNothing: return "Nothing";
    case ParameterRollout::Mode::kReload: return "Reload";
    case ParameterRollout::Mode::kReplicasFirst: return "ReplicasFirst";
    case ParameterRollout::Mode::kPrimaryFirst: return "PrimaryFirst";
  }
  return "";
}

}  // namespace polarstack::cluster
