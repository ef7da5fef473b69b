// The planner: from a PolarDBCluster (spec, generation, deletion) and the operations it
// has, decide what to do. Pure: no I/O, table-tested.
//
// Operations derived from spec changes are PolarDBOperations labelled
// polarstack.io/derived=true and annotated with the generation they implement, so the
// history of a cluster is uniform whether a person or the planner asked.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/json.h"

namespace polarstack::cluster {

inline constexpr const char* kDerivedLabel = "polarstack.io/derived";
inline constexpr const char* kClusterUidLabel = "polarstack.io/cluster-uid";
inline constexpr const char* kGenerationAnnotation = "polarstack.io/generation";

struct Plan {
  bool add_finalizer = false;
  std::optional<core::Json> create;               // a new PolarDBOperation to create
  std::vector<std::string> supersede;             // derived operations a newer spec replaces (if still allowed)
  std::optional<int64_t> observed_generation;     // status.observedGeneration to record
};

// `operations`: the cluster's PolarDBOperations (any order).
Plan plan(const core::Json& cluster, const std::vector<core::Json>& operations);

}  // namespace polarstack::cluster
