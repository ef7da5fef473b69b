// PolarDBCluster: one writer (RW), many readers (RO) and an optional standby.
// The field lists below are the single source of the API: decoding, defaults,
// validation, encoding, the OpenAPI schema and the CRD all come from them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "api/meta.h"

namespace polarstack::api {

inline constexpr int kMaxReaders = 15;
inline constexpr size_t kMaxClusterName = 40;

struct StandbySpec {
  static constexpr bool kSchemaStruct = true;
  bool enabled = false;
  std::string node;
  template <class V>
  void fields(V& v) {
    v.field("enabled", enabled, Rules("Run a standby instance in another failure domain; not implemented in this release"));
    v.field("node", node, Rules("Node to place the standby on (default: chosen by the runtime)"));
  }
};

struct ResourcesSpec {
  static constexpr bool kSchemaStruct = true;
  std::string cpu;
  std::string memory;
  std::string klass;  // "class"
  template <class V>
  void fields(V& v) {
    v.field("cpu", cpu, Rules("CPU per instance (a quantity: 500m, 2): a cgroup CPU quota on each instance's "
                              "PostgreSQL processes").with(check_quantity, kQuantityPattern));
    v.field("memory", memory, Rules("Memory per instance (a quantity: 512Mi, 4Gi): a cgroup memory limit; sizes "
                                    "shared_buffers (25%), effective_cache_size (75%), maintenance_work_mem and "
                                    "work_mem unless spec.parameters sets them").with(check_quantity, kQuantityPattern));
    v.field("class", klass, Rules("A named instance class (the ConfigMap polarstack-instance-classes in the cluster's "
                                  "namespace, e.g. polar.pg.x2.medium) instead of cpu and memory"));
  }
};

struct AutoGrowSpec {
  static constexpr bool kSchemaStruct = true;
  bool enabled = false;
  int32_t thresholdPercent = 80;
  std::string maxSize;
  template <class V>
  void fields(V& v) {
    v.field("enabled", enabled, Rules("Grow storage automatically when it fills up; not implemented in this release"));
    v.field("thresholdPercent", thresholdPercent, Rules("Usage that triggers growth").range(50, 95));
    v.field("maxSize", maxSize, Rules("Never grow past this size").with(check_quantity, kQuantityPattern));
  }
};

struct StorageSpec {
  static constexpr bool kSchemaStruct = true;
  std::string size;    // not implemented yet: refused when set
  bool retainOnDelete = false;
  AutoGrowSpec autoGrow;
  template <class V>
  void fields(V& v) {
    v.field("size", size, Rules("Storage per instance; not implemented in this release: refused when set")
                              .with(check_quantity, kQuantityPattern));
    v.field("retainOnDelete", retainOnDelete, Rules("Keep data directories when the cluster is deleted"));
    v.field("autoGrow", autoGrow, Rules("Automatic storage growth"));
  }
};

struct ReplicationSpec {
  static constexpr bool kSchemaStruct = true;
  std::string mode = "async";
  int32_t syncReplicas = 1;
  template <class V>
  void fields(V& v) {
    v.field("mode", mode, Rules("async, or sync for zero loss of acknowledged commits").one_of({"async", "sync"}));
    v.field("syncReplicas", syncReplicas, Rules("In sync mode, replicas that must confirm each commit").range(1, kMaxReaders));
  }
};

struct HaSpec {
  static constexpr bool kSchemaStruct = true;
  bool enabled = true;
  int32_t probeIntervalMs = 300;
  int32_t failureTimeoutMs = 2000;
  int32_t leaseMs = 3000;
  template <class V>
  void fields(V& v) {
    v.field("enabled", enabled, Rules("Automatic failover by the Cluster Manager"));
    v.field("probeIntervalMs", probeIntervalMs, Rules("How often the Cluster Manager probes each instance").range(50, 10000));
    v.field("failureTimeoutMs", failureTimeoutMs, Rules("An unresponsive primary is declared failed after this").range(200, 60000));
    v.field("leaseMs", leaseMs,
            Rules("A primary cut off from the Cluster Manager and every replica stops accepting writes within this").range(1000, 60000));
  }
};

struct EndpointsSpec {
  static constexpr bool kSchemaStruct = true;
  int32_t readWritePort = 0;
  int32_t readOnlyPort = 0;
  template <class V>
  void fields(V& v) {
    v.field("readWritePort", readWritePort, Rules("Port of the read-write address on 127.0.0.1 (0: allocated)").range(0, 65535));
    v.field("readOnlyPort", readOnlyPort, Rules("Port of the read-only address on 127.0.0.1 (0: allocated)").range(0, 65535));
  }
};

struct ClusterSpec {
  static constexpr bool kSchemaStruct = true;
  std::string version = "15";
  int32_t readers = 2;
  StandbySpec standby;
  ResourcesSpec resources;
  StorageSpec storage;
  std::map<std::string, std::string> parameters;
  ReplicationSpec replication;
  HaSpec ha;
  std::string primary;
  EndpointsSpec endpoints;

  template <class V>
  void fields(V& v) {
    v.field("version", version,
            Rules("PostgreSQL version: 15 (the system's build) or 15.<minor> (an installed build: polarctl engines); "
                  "changing it is a rolling minor version upgrade")
                .with(check_version, "^[0-9]+(\\.[0-9]+)?$"));
    v.field("readers", readers, Rules("Number of read-only (RO) instances").range(0, kMaxReaders));
    v.field("standby", standby, Rules("Standby instance"));
    v.field("resources", resources, Rules("Compute per instance"));
    v.field("storage", storage, Rules("Storage per instance"));
    v.field("parameters", parameters, Rules("PostgreSQL parameters (reloaded, or rolled out with a restart when needed)")
                                          .with(check_parameter_name));
    v.field("replication", replication, Rules("Replication mode"));
    v.field("ha", ha, Rules("High availability"));
    v.field("primary", primary, Rules("Instance that should be primary; changing it is a switchover"));
    v.field("endpoints", endpoints, Rules("Stable read-write and read-only addresses"));
  }
  void check(const std::string& path, FieldErrors& errs) const;
  // Creation only: fields of the schema this release does not act on yet must be unset
  // (an existing cluster cannot change them: check_cluster_update).
  void check_new(const std::string& path, FieldErrors& errs) const;
  // Transition rules from `old` (the stored spec) to this one, for an update.
  void check_update(const ClusterSpec& old, const std::string& path, FieldErrors& errs) const;
  static std::string check_parameter_name(const std::string& name);
  static std::string check_version(const std::string& version);
};

struct InstanceStatus {
  static constexpr bool kSchemaStruct = true;
  std::string name;
  std::string role;  // primary, replica, standby
  std::string node;
  bool ready = false;
  std::string lsn;
  int64_t lagBytes = 0;
  std::string version;
  int32_t port = 0;
  std::string host;
  std::map<std::string, std::string> parameters;
  std::vector<std::string> pendingRestart;
  std::string cpu, memory;
  template <class V>
  void fields(V& v) {
    v.field("name", name, Rules("Instance name").require());
    v.field("role", role, Rules("primary, replica or standby").one_of({"primary", "replica", "standby", "unknown"}));
    v.field("node", node, Rules("Node the instance runs on"));
    v.field("ready", ready, Rules("Accepting connections in its role"));
    v.field("lsn", lsn, Rules("Current (primary) or replayed (replica) WAL position"));
    v.field("lagBytes", lagBytes, Rules("Replication lag behind the primary in bytes").at_least(0));
    v.field("version", version, Rules("Running engine version"));
    v.field("port", port, Rules("PostgreSQL port").range(0, 65535));
    v.field("host", host, Rules("Address PostgreSQL listens on: 127.0.0.1, or its node's in a network of its own"));
    v.field("parameters", parameters, Rules("The parameters of spec.parameters as PostgreSQL runs them (current_setting)"));
    v.field("pendingRestart", pendingRestart,
            Rules("Parameters whose new value PostgreSQL takes only at its next start (pg_settings.pending_restart)"));
    v.field("cpu", cpu, Rules("Its CPU limit (its class; empty: none)"));
    v.field("memory", memory, Rules("Its memory limit (its class; empty: none)"));
  }
};

struct OperationRef {
  static constexpr bool kSchemaStruct = true;
  std::string name;
  std::string type;
  std::string step;
  int32_t stepsDone = 0;
  int32_t stepsTotal = 0;
  int32_t attempts = 0;
  std::string lastError;
  std::string message;
  template <class V>
  void fields(V& v) {
    v.field("name", name, Rules("PolarDBOperation running for this cluster"));
    v.field("type", type, Rules("Its type"));
    v.field("step", step, Rules("The step it is on"));
    v.field("stepsDone", stepsDone, Rules("Steps finished").at_least(0));
    v.field("stepsTotal", stepsTotal, Rules("Steps in all").at_least(0));
    v.field("attempts", attempts, Rules("Attempts of the current step so far").at_least(0));
    v.field("lastError", lastError, Rules("Why the current step's last attempt failed (it is being retried)"));
    v.field("message", message, Rules("What the current step is waiting for"));
  }
};

struct Endpoints {
  static constexpr bool kSchemaStruct = true;
  std::string readWrite;
  std::string readOnly;
  template <class V>
  void fields(V& v) {
    v.field("readWrite", readWrite, Rules("host:port that always reaches the primary"));
    v.field("readOnly", readOnly, Rules("host:port balanced across ready readers"));
  }
};

struct HaCandidate {
  static constexpr bool kSchemaStruct = true;
  std::string name;
  std::string receivedLsn;
  std::string replayedLsn;
  bool eligible = false;
  std::string whyNot;
  template <class V>
  void fields(V& v) {
    v.field("name", name, Rules("Replica").require());
    v.field("receivedLsn", receivedLsn, Rules("WAL it had flushed"));
    v.field("replayedLsn", replayedLsn, Rules("WAL it had replayed"));
    v.field("eligible", eligible, Rules("Could be promoted"));
    v.field("whyNot", whyNot, Rules("Why it could not"));
  }
};

// One decision of the Cluster Manager.
struct HaDecision {
  static constexpr bool kSchemaStruct = true;
  std::string time;
  std::string action;  // None, Wait, Failover, Blocked
  std::string reason;
  std::string message;
  std::string primary;
  std::string chosen;
  std::vector<HaCandidate> candidates;
  int64_t detectedToPromotedMs = 0;
  int64_t term = 0;
  int32_t orphansKilled = 0;
  int64_t orphanWindowUs = 0;
  template <class V>
  void fields(V& v) {
    v.field("time", time, Rules("When it was decided").fmt("date-time"));
    v.field("action", action, Rules("None, Wait, Failover or Blocked"));
    v.field("reason", reason, Rules("PrimaryHealthy, PrimarySuspect, PrimaryFailed, HAPaused, NoCandidate, SyncNotProvable, ..."));
    v.field("message", message, Rules("The decision in a sentence"));
    v.field("primary", primary, Rules("The primary it was about"));
    v.field("chosen", chosen, Rules("The replica promoted (Failover)"));
    v.field("candidates", candidates, Rules("Every replica with its WAL position, best first"));
    v.field("detectedToPromotedMs", detectedToPromotedMs, Rules("Failover: from the first failed probe to the promotion").at_least(0));
    v.field("term", term, Rules("Failover: the new primary's term (fencing token)").at_least(0));
    v.field("orphansKilled", orphansKilled, Rules("Failover after the postmaster died: its orphaned PostgreSQL processes the instance manager killed").at_least(-1));
    v.field("orphanWindowUs", orphanWindowUs, Rules("... and how soon after learning of the death (microseconds): the window in which an orphaned backend could still acknowledge a commit").at_least(-1));
  }
};

// What the Cluster Manager decided and did (written by it when the API is reachable).
struct HaStatus {
  static constexpr bool kSchemaStruct = true;
  int32_t failovers = 0;
  HaDecision lastDecision;
  HaDecision lastFailover;
  template <class V>
  void fields(V& v) {
    v.field("failovers", failovers, Rules("Failovers by the Cluster Manager so far").at_least(0));
    v.field("lastDecision", lastDecision, Rules("Its latest decision (it changes only when the reason does)"));
    v.field("lastFailover", lastFailover, Rules("The latest failover: candidates, chosen, reason, time to promotion"));
  }
};

struct ClusterStatus {
  static constexpr bool kSchemaStruct = true;
  std::string phase;
  int64_t observedGeneration = 0;
  std::string currentPrimary;
  std::string targetPrimary;
  int32_t readyInstances = 0;
  int32_t readyReaders = 0;
  std::string selector;
  std::vector<InstanceStatus> instances;
  std::vector<Condition> conditions;
  OperationRef operation;
  Endpoints endpoints;
  HaStatus ha;
  template <class V>
  void fields(V& v) {
    v.field("phase", phase, Rules("Lifecycle phase")
                                .one_of({"Pending", "Creating", "Running", "Updating", "Degraded", "Interrupted",
                                         "Deleting", "Failed"}));
    v.field("observedGeneration", observedGeneration, Rules("metadata.generation last acted on").at_least(0));
    v.field("currentPrimary", currentPrimary, Rules("Instance that is primary now"));
    v.field("targetPrimary", targetPrimary, Rules("Instance being made primary"));
    v.field("readyInstances", readyInstances, Rules("Instances ready in their role").at_least(0));
    v.field("readyReaders", readyReaders, Rules("Readers ready (the scale subresource's status.replicas)").at_least(0));
    v.field("selector", selector, Rules("Label selector of the cluster's readers (the scale subresource's)"));
    v.field("instances", instances, Rules("Every instance of the cluster"));
    v.field("conditions", conditions, Rules("Ready, Progressing, Degraded, Interrupted, ..."));
    v.field("operation", operation, Rules("The operation in progress"));
    v.field("endpoints", endpoints, Rules("Stable addresses"));
    v.field("ha", ha, Rules("The Cluster Manager's last decision"));
  }
};

}  // namespace polarstack::api
