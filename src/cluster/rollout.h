// How a change of spec.parameters reaches the instances: pure decisions, table-tested
// (tests/unit/rollout_test.cc), used by the UpdateParameters workflow.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace polarstack::cluster {

using Parameters = std::map<std::string, std::string>;

struct ParameterRollout {
  enum class Mode {
    kNothing,        // nothing changed
    kReload,         // every change is applied by a reload: no restart, no write gap
    kReplicasFirst,  // a restart: the replicas one at a time, then one switchover (the old
                     // primary's restart), or the primary in place without replicas
    kPrimaryFirst,   // a restart that lowers a parameter a replica must hold at least as high
                     // as its primary: the primary in place (writes pause), then the replicas
  };
  Mode mode = Mode::kNothing;
  std::vector<std::string> changed;       // every parameter set, changed or unset
  std::vector<std::string> need_restart;  // those of them PostgreSQL takes only at a start
  std::string lowered;                    // kPrimaryFirst: the parameter that makes it so
  std::string refused;                    // non-empty: it cannot be rolled out, and why
};

// From the parameters the instances run with (`current`, the primary's) to `next`.
ParameterRollout plan_parameters(const Parameters& current, const Parameters& next);

// The instances restarted (or reloaded) in place, in order, and whether one switchover
// from the primary to a replica follows (then the primary's restart is that switchover).
struct RolloutOrder {
  std::vector<std::string> in_place;
  bool switchover = false;
};
RolloutOrder rollout_order(ParameterRollout::Mode mode, const std::string& primary,
                           const std::vector<std::string>& replicas);

const char* mode_name(ParameterRollout::Mode mode);

}  // namespace polarstack::cluster
