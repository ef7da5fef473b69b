// PolarDBOperation: one durable workflow instance acting on one cluster (a day-2 action
// such as a switchover, or an action the operator derived from a spec change).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/cluster.h"
#include "api/meta.h"

namespace polarstack::api {

inline const std::vector<std::string> kOperationTypes = {
    "Create", "Delete", "ScaleReaders", "Switchover", "RestartInstance", "RestartCluster",
    "UpdateParameters", "UpgradeMinorVersion", "ChangeClass", "RebuildInstance", "MigrateInstance"};

// Types this release has a workflow for. The others are part of the API (they come with
// later issues) and admission refuses them with a reason instead of storing them.
bool operation_type_implemented(const std::string& type);
// The server's test-only workflows (POLARSTACK_TEST_WORKFLOWS=1) make every type
// acceptable, for exercising the operation machinery; never in normal use.
void accept_unimplemented_operation_types(bool accept);

struct OperationSpec {
  static constexpr bool kSchemaStruct = true;
  std::string clusterRef;
  std::string type;
  std::string instance;
  std::string target;
  std::string node;
  std::string method;
  std::optional<int32_t> readers;
  std::map<std::string, std::string> parameters;
  std::string version;
  ResourcesSpec resources;
  bool resume = false;
  bool cancel = false;

  template <class V>
  void fields(V& v) {
    v.field("clusterRef", clusterRef, Rules("Name of the PolarDBCluster (same namespace)").require().with(check_dns_label));
    v.field("type", type, Rules("What to do").require().one_of(kOperationTypes));
    v.field("instance", instance, Rules("Instance acted on (RestartInstance, RebuildInstance, MigrateInstance)"));
    v.field("target", target, Rules("Switchover target instance (default: the best candidate)"));
    v.field("node", node, Rules("Destination node (MigrateInstance)"));
    v.field("method", method,
            Rules("RestartInstance of the primary: Switchover (default: another instance takes over first, "
                  "writes pause ~0.3 s) or InPlace (writes pause for the whole restart)")
                .one_of({"", "Switchover", "InPlace"}));
    v.field("readers", readers, Rules("Reader count (ScaleReaders; Create, derived by the operator)").range(0, 15));
    v.field("parameters", parameters,
            Rules("The cluster's spec.parameters this run applies (Create, UpdateParameters, UpgradeMinorVersion, "
                  "ChangeClass: derived by the operator, a snapshot of the cluster's spec)"));
    v.field("version", version, Rules("The cluster's spec.version this run installs (the same types)"));
    v.field("resources", resources, Rules("The cluster's spec.resources this run gives each instance (the same types)"));
    v.field("resume", resume, Rules("Set to resume an Interrupted operation"));
    v.field("cancel", cancel, Rules("Set to cancel the operation"));
  }
  void check(const std::string& path, FieldErrors& errs) const;
  // Creation only (an operation's spec cannot change afterwards): a type this release
  // implements, and no field the type does not use.
  void check_new(const std::string& path, FieldErrors& errs) const;
};

struct StepStatus {
  static constexpr bool kSchemaStruct = true;
  std::string name;
  std::string state;  // Pending, Running, Waiting, Done, Failed, Skipped
  int32_t attempts = 0;
  std::string lastError;
  std::string startedAt;
  std::string finishedAt;
  template <class V>
  void fields(V& v) {
    v.field("name", name, Rules("Step name").require());
    v.field("state", state, Rules("Step state").one_of({"Pending", "Running", "Waiting", "Done", "Failed", "Skipped"}));
    v.field("attempts", attempts, Rules("Attempts so far").at_least(0));
    v.field("lastError", lastError, Rules("Error of the last failed attempt"));
    v.field("startedAt", startedAt, Rules("First attempt").fmt("date-time"));
    v.field("finishedAt", finishedAt, Rules("Completion").fmt("date-time"));
  }
};

// The status is the persisted workflow run (src/workflow/codec.h writes it).
struct OperationStatus {
  static constexpr bool kSchemaStruct = true;
  std::string phase;
  std::string reason;
  std::string message;
  int64_t observedGeneration = 0;
  std::string workflow;
  std::string progress;
  std::vector<StepStatus> steps;
  bool cancelling = false;
  std::vector<StepStatus> compensation;
  std::map<std::string, std::string> context;
  std::string nextRunAt;
  std::string startedAt;
  std::string finishedAt;
  template <class V>
  void fields(V& v) {
    v.field("phase", phase, Rules("Lifecycle phase").one_of({"Pending", "Running", "Waiting", "Succeeded", "Failed",
                                                                 "Interrupted", "Cancelled"}));
    v.field("reason", reason, Rules("Typed reason of the current phase (Queued, RetryBudgetExhausted, ...)"));
    v.field("message", message, Rules("Human-readable detail"));
    v.field("observedGeneration", observedGeneration, Rules("metadata.generation whose requests were handled").at_least(0));
    v.field("workflow", workflow, Rules("Workflow definition being run"));
    v.field("progress", progress, Rules("Steps done of steps in all, and the current step: 2/5 promote"));
    v.field("steps", steps, Rules("Every step with its state"));
    v.field("cancelling", cancelling, Rules("Compensation steps are running after a cancel"));
    v.field("compensation", compensation, Rules("Compensation steps with their state"));
    v.field("context", context, Rules("Outputs of finished steps"));
    v.field("nextRunAt", nextRunAt, Rules("When the current step runs again (retry backoff or wait)").fmt("date-time"));
    v.field("startedAt", startedAt, Rules("Start").fmt("date-time"));
    v.field("finishedAt", finishedAt, Rules("End").fmt("date-time"));
  }
};

}  // namespace polarstack::api
