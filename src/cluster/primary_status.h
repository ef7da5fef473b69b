// Status names a new primary at once, consistently with the two instances' roles: the
// endpoints route by status.currentPrimary, so a failover (the Cluster Manager) and a
// switchover (the workflow) write it right after the promotion instead of waiting for
// the operator's next observation, which fills in the rest. Header-only: the CM links
// nothing of the cluster domain but its ports.
#pragma once

#include <string>

#include "cluster/ports.h"

namespace polarstack::cluster {

// A conditional patch (resourceVersion), read again on a conflict (at most three times),
// so another writer's instances written meanwhile are not overwritten with what was read
// before. Returns the last error, or success (also when status already says so).
inline core::Status record_new_primary(ClusterApi& api, const std::string& ns, const std::string& name,
                                       const std::string& primary, const std::string& old) {
  core::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto cl = api.get_cluster(ns, name);
    if (!cl) return core::fail(cl.error());
    if (core::string_at(*cl, "status.currentPrimary") == primary) return {};
    const core::Json* listed = core::find_path(*cl, "status.instances");
    core::Json instances = listed && listed->is_array() ? *listed : core::Json::array();
    for (auto& i : instances) {
      if (i.value("name", "") == primary) {
        i["role"] = "primary";
        i["ready"] = true;
      } else if (i.value("name", "") == old) {
        i["role"] = "unknown";
        i["ready"] = false;
      }
    }
    core::Json patch = {{"metadata", {{"resourceVersion", core::string_at(*cl, "metadata.resourceVersion")}}},
                        {"status", {{"currentPrimary", primary}, {"instances", instances}}}};
    last = api.patch_cluster_status(ns, name, patch);
    if (last || last.error().code != core::Code::kConflict) return last;
  }
  return last;
}

}  // namespace polarstack::cluster
