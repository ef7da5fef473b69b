// The PolarDBCluster lifecycle workflows, built from the Runtime port and the API port:
//
//   Create:        check-ports, secrets, primary, wait-primary, endpoints, readers, wait-readers
//   ScaleReaders:  add-readers, wait-readers, remove-readers (point of no return)
//   Delete:        remove-endpoints, remove-readers, remove-primary, remove-cluster, release
//   Switchover:    pause-ha, choose, fence-primary, wait-target, promote, repoint,
//                  wait-repointed, drop-stale-slots, resume-ha (from fence-primary on it
//                  runs to completion; a cancel before the promotion starts the old
//                  primary again; the Cluster Manager is paused meanwhile)
//   RestartInstance, RestartCluster: plan, restart-readers, pause-ha, restart-primary,
//                  then the Switchover's steps from choose on, resume-ha, done. A reader
//                  is restarted in place; the primary by one switchover (its clean
//                  shutdown and start as a replica are its restart), or in place
//                  (method InPlace, or a cluster without readers) with HA paused.
//                  (Switchover: switchover_workflow.cc; restarts: restart_workflows.cc;
//                  rollouts: parameter_workflow.cc)
//   UpdateParameters: plan, pause-ha, apply, rollback, pause-ha-for-switchover, then the
//                  Switchover's steps, resume-ha, done. Derived from a change of
//                  spec.parameters (rollout.h decides): reloaded on every instance when no
//                  parameter needs a restart; else restarted like RestartCluster (replicas
//                  first, one switchover), or primary first (in place, HA paused) when it
//                  lowers one a replica must hold at least as high as its primary. The
//                  first instance that does not start with them is rolled back to the
//                  parameters it ran with, and the run is Interrupted with PostgreSQL's
//                  reason.
//
// Instances are named <cluster>-<n>: the primary is created as <cluster>-0, readers take
// the lowest free numbers, and scaling down removes the highest-numbered readers (and
// their replication slots). Every step is idempotent and converges on its target, so a
// step run again after a crash, or a superseded run, leaves nothing half-done behind.
#pragma once

#include <string>

#include "cluster/ports.h"
#include "runtime/runtime.h"
#include "workflow/engine.h"

namespace polarstack::cluster {

inline constexpr const char* kFinalizer = "polarstack.io/cluster";

struct WorkflowOptions {
  std::chrono::milliseconds poll{100};           // how often a waiting step looks again
  std::chrono::minutes ready_timeout{10};         // an instance not ready by then interrupts the run
};

void register_cluster_workflows(workflow::Engine& engine, ClusterApi& api, runtime::Runtime& rt,
                                WorkflowOptions opts = {});

// "<cluster>-<n>" -> n; -1 if `instance` is not named like that.
int instance_number(const std::string& cluster, const std::string& instance);

}  // namespace polarstack::cluster
