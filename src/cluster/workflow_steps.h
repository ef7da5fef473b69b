// What the cluster workflows share, internal to src/cluster: their dependencies, the
// helpers every step uses, and the Switchover's steps, which RestartInstance and
// RestartCluster run too (workflows.cc, restart_workflows.cc).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/ports.h"
#include "cluster/workflows.h"
#include "runtime/runtime.h"
#include "workflow/engine.h"

namespace polarstack::cluster::detail {

struct Deps {
  ClusterApi& api;
  runtime::Runtime& rt;
  WorkflowOptions opts;
};

// The run's context value `k` ("" if absent), and the cluster it is for.
const std::string& ctx(const workflow::StepInput& in, const std::string& k);
runtime::ClusterKey key_of(const workflow::StepInput& in);
// Done on success, else a retry saying `what` failed.
workflow::StepResult from(const core::Status& st, const std::string& what);
// Since when the current step has been running (for timeouts of waits).
std::chrono::system_clock::duration step_age(const workflow::StepInput& in);
// The instance PostgreSQL reports as primary, else the one created as primary.
std::string primary_of(Deps& d, const runtime::ClusterKey& c, const std::vector<runtime::InstanceInfo>& all);
// Waits until every listed instance is ready; interrupts on a crash loop or a timeout.
workflow::StepResult wait_ready(Deps& d, const workflow::StepInput& in, const std::vector<std::string>& names);
// Readers (every instance but the primary), ordered by number.
std::vector<runtime::InstanceInfo> readers(const std::vector<runtime::InstanceInfo>& all, const std::string& primary,
                                           const std::string& cluster);
// A JSON object of strings (a cluster's spec.parameters, or a run's context value that
// holds one) as a map; anything else: empty.
std::map<std::string, std::string> string_map(const core::Json* object);
std::map<std::string, std::string> string_map(const std::string& json_text);
// An instance just restarted (state `s`) is back once it is ready and, a replica, streams
// from `primary` again: "" then, else what is awaited (for a wait's message).
core::Result<std::string> not_back_yet(Deps& d, const runtime::ClusterKey& c, const std::string& name,
                                       const runtime::InstanceState& s, const std::string& primary);
// The run decided that no switchover is needed (context "noop").
bool noop(const workflow::StepInput& in);

// The Switchover's steps from `choose` to `drop-stale-slots`, and its compensation
// (restore-primary, resume-ha).
std::vector<workflow::Step> switchover_steps(const std::shared_ptr<Deps>& dp);
std::vector<workflow::Step> switchover_compensation(const std::shared_ptr<Deps>& dp);

// "a=1,b=2" <-> {a: 1, b: 2}: instances and their postmaster pids, kept in a run's context.
std::string join_pids(const std::vector<std::pair<std::string, int>>& pids);
std::vector<std::pair<std::string, int>> split_pids(const std::string& text);

// The instance configuration a run's snapshot (context parameters, version, resources)
// asks for: the class resolved from its ConfigMap, the parameters sized by memory under
// the user's, the exact engine. kNotFound/kInvalid: it cannot be (a missing class, an
// engine not installed).
core::Result<runtime::Configuration> wanted_configuration(Deps& d, const workflow::StepInput& in);

// UpdateParameters, UpgradeMinorVersion or ChangeClass (parameter_workflow.cc): the same rollout of
// an instance configuration (parameters, engine).
workflow::Definition parameter_workflow(const std::shared_ptr<Deps>& dp, const std::string& name);

// Switchover: pause-ha, the steps above, resume-ha (switchover_workflow.cc).
workflow::Definition switchover_workflow(const std::shared_ptr<Deps>& dp);

// RestartInstance (whole_cluster false) or RestartCluster.
workflow::Definition restart_workflow(const std::shared_ptr<Deps>& dp, bool whole_cluster);

}  // namespace polarstack::cluster::detail
