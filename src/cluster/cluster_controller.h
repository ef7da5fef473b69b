// Reconciles PolarDBClusters: applies the planner's decisions (finalizer, derived
// operations, supersede, observedGeneration) and keeps status true to what runs: the
// instances with role, node, readiness, LSN and lag, the current primary, conditions
// Ready/Progressing/Degraded/InstanceUnreachable with typed reasons, the phase, and Events when an instance
// becomes ready or stops being ready. An instance manager that died is started again
// (it re-adopts its running postmaster).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cluster/operation_controller.h"
#include "cluster/ports.h"
#include "runtime/runtime.h"

namespace polarstack::cluster {

class ClusterController {
 public:
  ClusterController(ClusterApi& api, runtime::Runtime& rt, OperationController& ops)
      : api_(api), rt_(rt), ops_(ops) {}

  // Plans every cluster (cheap, no probing).
  void plan(const std::vector<core::Json>& clusters, const std::vector<core::Json>& operations);
  // Probes the instances of every cluster and writes status when it changed. Returns
  // true while something is in motion (a status changed, or a cluster is being created,
  // updated or deleted): the caller then observes again sooner.
  bool observe(const std::vector<core::Json>& clusters);

  // The status fields observed for one cluster (for tests): instances, currentPrimary,
  // readyInstances, phase, conditions.
  core::Json observed_status(const core::Json& cluster);

 private:
  void apply_plan(const core::Json& cluster, const std::vector<core::Json>& operations);
  void remove_stale_operation(const core::Json& cluster, const std::vector<core::Json>& operations,
                              const std::string& name);
  ClusterApi& api_;
  runtime::Runtime& rt_;
  OperationController& ops_;
  std::map<std::string, bool> ready_;  // "ns/cluster/instance" -> last readiness seen
  // "ns/cluster/instance" -> since when its instance manager has not answered.
  std::map<std::string, std::chrono::steady_clock::time_point> unreachable_since_;
  // "ns/cluster" -> the resourceVersion the last status patch was sent against, and it.
  std::map<std::string, std::pair<std::string, std::string>> last_patch_;
};

// An instance manager that has not answered for this long makes the cluster's
// InstanceUnreachable condition True (naming the instance, its address and the error).
inline constexpr std::chrono::seconds kUnreachableAfter{10};

}  // namespace polarstack::cluster
