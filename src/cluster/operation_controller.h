// Runs PolarDBOperations: one at a time per cluster, the others queued in creation order
// (creationTimestamp; the embedded server records microseconds, a Kubernetes server
// seconds, where ties are broken by name), none dropped. Handles resume and cancel
// requests (spec.resume, spec.cancel), shows the running operation and its step i/n in
// the cluster's status with an Interrupted condition when it is stuck, records Events,
// and keeps the last N finished operations per cluster.
//
// The controller is the only writer of operation status, and keeps the runs it drives
// in memory (loaded from status on first sight, e.g. after a restart): a stale cache
// copy never rewinds a run.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/operation_store.h"
#include "cluster/ports.h"
#include "workflow/engine.h"

namespace polarstack::cluster {

class OperationController {
 public:
  struct Options {
    size_t history_per_cluster = 20;  // finished operations kept per cluster
  };

  OperationController(ClusterApi& api, workflow::Engine& engine, OperationStore& store, Options opts);

  // One pass over every PolarDBOperation (as listed or cached). Returns when a pass is
  // next needed (nullopt: only when something changes).
  std::optional<workflow::TimePoint> reconcile(const std::vector<core::Json>& operations);

  // A newer spec replaces this operation: one that has not started ends Cancelled
  // (Superseded) at once; a running one only before its point of no return (kConflict
  // after it: it runs to completion and the newer one waits in the queue).
  core::Status supersede(const core::Json& operation);

 private:
  struct Op {
    std::string ns, name, cluster, type, created, id;
    int64_t generation = 0;
    core::Json object;
  };
  void reconcile_cluster(std::vector<Op>& ops, std::optional<workflow::TimePoint>& next);
  workflow::Instance* live(const Op& op);
  void handle_requests(Op& op);
  void start(Op& op);
  void drive(const Op& op, std::optional<workflow::TimePoint>& next);
  // Writes a status for an operation that has no run (queued, or ended before starting)
  // and updates `op` to it, so that the rest of the pass sees what was written.
  void write_plain_status(Op& op, const std::string& phase, const std::string& reason, const std::string& message);
  void update_cluster_status(const std::string& ns, const std::string& cluster, const Op* active);
  void prune_history(std::vector<Op>& ops);
  std::string phase_of(const Op& op);

  ClusterApi& api_;
  workflow::Engine& engine_;
  OperationStore& store_;
  Options opts_;
  std::map<std::string, workflow::Instance> live_;
  // The uid each live run belongs to: an operation deleted and created again under the
  // same name (a cluster deleted and applied again) between two passes is a new run.
  std::map<std::string, std::string> uid_of_;
  std::map<std::string, core::Json> cluster_status_written_;  // "ns/cluster" -> what we last wrote
};

}  // namespace polarstack::cluster
