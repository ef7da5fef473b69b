// RestartInstance and RestartCluster (see workflows.h): readers in place, the primary by
// the Switchover's steps or in place.
#include <algorithm>
#include <optional>

#include "cluster/workflow_steps.h"

namespace polarstack::cluster::detail {

using core::Json;
using workflow::StepInput;
using workflow::StepResult;

std::string join_pids(const std::vector<std::pair<std::string, int>>& pids) {
  std::string out;
  for (const auto& [n, p] : pids) out += (out.empty() ? "" : ",") + n + "=" + std::to_string(p);
  return out;
}
std::vector<std::pair<std::string, int>> split_pids(const std::string& text) {
  std::vector<std::pair<std::string, int>> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(',', at);
    std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    size_t eq = item.find('=');
    if (eq != std::string::npos) out.emplace_back(item.substr(0, eq), std::atoi(item.c_str() + eq + 1));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

namespace {

// --- Restarts -------------------------------------------------------------------------
// RestartInstance of a reader, or of the primary with method InPlace: that instance in
// place. RestartInstance of the primary (method Switchover, the default): a switchover
// to the best reader (the old primary's clean shutdown and its start as a replica are
// its restart). RestartCluster: every reader in place, one at a time, each streaming
// again before the next; then one switchover, which restarts the old primary (with no
// reader: the primary in place). Restarts are conditional on the postmaster planned
// (Runtime::restart's if_postmaster_pid), so a step run again after a crash restarts
// nothing twice, and an instance whose postmaster changed meanwhile counts as restarted.

// Waits for a healthy cluster, then decides what is restarted and how.
StepResult plan_restart(Deps& d, const StepInput& in, bool whole_cluster) {
  auto c = key_of(in);
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  std::string primary = primary_of(d, c, *all);
  std::vector<std::string> names;
  for (const auto& i : *all) names.push_back(i.name);
  std::string instance = ctx(in, "instance");
  if (!whole_cluster && std::find(names.begin(), names.end(), instance) == names.end()) {
    return StepResult::fail("InstanceNotFound", "no instance named \"" + instance + "\" in " + c.str());
  }
  // Everything to be restarted, and the primary, must be up first: restarting one
  // instance while another is down would take the cluster below what it serves.
  std::vector<std::string> must_be_ready = whole_cluster ? names : std::vector<std::string>{instance};
  if (!primary.empty() && std::find(must_be_ready.begin(), must_be_ready.end(), primary) == must_be_ready.end()) {
    must_be_ready.push_back(primary);
  }
  if (auto r = wait_ready(d, in, must_be_ready); r.kind != StepResult::Kind::kDone) return r;
  std::vector<std::pair<std::string, int>> pids;  // replicas restarted in place, in order
  std::string in_place;                           // the primary restarted in place
  auto pid_of = [&](const std::string& n) {
    auto s = d.rt.instance_state(c, n);
    return s ? s->postmaster_pid : -1;
  };
  auto ready_readers = [&] {
    int n = 0;
    for (const auto& r : readers(*all, primary, c.name)) {
      auto s = d.rt.instance_state(c, r.name);
      n += s && s->ready && s->role == "replica";
    }
    return n;
  };
  if (whole_cluster) {
    for (const auto& r : readers(*all, primary, c.name)) pids.emplace_back(r.name, pid_of(r.name));
    if (pids.empty()) in_place = primary;
  } else if (instance != primary) {
    pids.emplace_back(instance, pid_of(instance));
  } else if (ctx(in, "method") == "InPlace") {
    in_place = primary;
  } else if (ready_readers() == 0) {
    return StepResult::fail("NoCandidate", instance + " is the primary and the cluster has no ready reader to take over "
                                           "while it restarts; restart it with method InPlace (writes pause meanwhile)");
  }
  for (const auto& [n, p] : pids) {
    if (p <= 0) return StepResult::retry(n + " reports no postmaster");
  }
  int primary_pid = in_place.empty() ? 0 : pid_of(in_place);
  if (!in_place.empty() && primary_pid <= 0) return StepResult::retry(in_place + " reports no postmaster");
  bool switchover = in_place.empty() && (whole_cluster || instance == primary);
  std::string what = whole_cluster ? "every instance of " + c.name : instance;
  auto cluster = d.api.get_cluster(c.ns, c.name);
  if (cluster) {
    std::string how = std::to_string(pids.size()) + " in place" +
                      (switchover ? ", then a switchover from " + primary + " (its restart)" : "") +
                      (in_place.empty() ? "" : ", the primary " + in_place + " in place (writes pause meanwhile)");
    d.api.record_event(*cluster, "Normal", "RestartPlanned", "restarting " + what + ": " + how);
  }
  return StepResult::done({{"restartPids", join_pids(pids)},
                           {"inPlace", in_place},
                           {"inPlacePid", std::to_string(primary_pid)},
                           {"primary", primary},
                           {"noop", switchover ? "false" : "true"}});
}

// One instance restarted in place (the restart asked for once, for the planned
// postmaster), then ready again, and a replica streaming from `primary` once more:
// nullopt once it is, else what the step answers meanwhile.
std::optional<StepResult> restarted(Deps& d, const StepInput& in, const std::string& name, int planned_pid,
                                    const std::string& primary) {
  auto c = key_of(in);
  auto s = d.rt.instance_state(c, name);
  if (!s) return StepResult::retry(s.error().message);
  std::string waiting;
  if (s->postmaster_pid == planned_pid) {
    if (auto st = d.rt.restart(c, name, planned_pid); !st) return StepResult::retry("restarting " + name + ": " + st.error().message);
    waiting = "restarting " + name;
  } else if (s->state == "CrashLoop") {
    return StepResult::interrupt("InstanceCrashLoop", name + " keeps crashing since its restart: " + s->last_error);
  } else {
    auto w = not_back_yet(d, c, name, *s, primary);
    if (!w) return StepResult::retry(w.error().message);
    waiting = *w;
  }
  if (waiting.empty()) return std::nullopt;
  if (step_age(in) > d.opts.ready_timeout) {
    return StepResult::interrupt("InstanceNotReady", "not restarted after " + std::to_string(d.opts.ready_timeout.count()) +
                                                         " min: " + waiting);
  }
  return StepResult::wait(waiting, d.opts.poll);
}

StepResult restart_readers(Deps& d, const StepInput& in) {
  for (const auto& [name, pid] : split_pids(ctx(in, "restartPids"))) {
    if (auto r = restarted(d, in, name, pid, ctx(in, "primary"))) return *r;
  }
  return StepResult::done();
}

StepResult restart_primary_in_place(Deps& d, const StepInput& in) {
  std::string name = ctx(in, "inPlace");
  if (name.empty()) return StepResult::done();
  if (auto r = restarted(d, in, name, std::atoi(ctx(in, "inPlacePid").c_str()), name)) return *r;
  auto c = key_of(in);
  if (auto cluster = d.api.get_cluster(c.ns, c.name)) {
    d.api.record_event(*cluster, "Normal", "InstanceRestarted", name + " (the primary) was restarted in place");
  }
  return StepResult::done();
}

StepResult restart_done(Deps& d, const StepInput& in) {
  auto c = key_of(in);
  auto cluster = d.api.get_cluster(c.ns, c.name);
  if (!cluster) return StepResult::done();
  std::string names;
  for (const auto& [n, p] : split_pids(ctx(in, "restartPids"))) names += (names.empty() ? "" : ", ") + n;
  if (!ctx(in, "inPlace").empty()) names += (names.empty() ? "" : ", ") + ctx(in, "inPlace");
  if (!noop(in)) names += (names.empty() ? "" : ", ") + ctx(in, "primary") + " (by switchover to " + ctx(in, "target") + ")";
  d.api.record_event(*cluster, "Normal", "RestartCompleted", "restarted " + names);
  return StepResult::done();
}

}  // namespace

workflow::Definition restart_workflow(const std::shared_ptr<Deps>& dp, bool whole_cluster) {
  workflow::Definition def;
  def.name = whole_cluster ? "RestartCluster" : "RestartInstance";
  def.steps = {
      {"plan", [dp, whole_cluster](const StepInput& in) { return plan_restart(*dp, in, whole_cluster); }},
      {"restart-readers", [dp](const StepInput& in) { return restart_readers(*dp, in); }},
      {"pause-ha", [dp](const StepInput& in) {
         Deps& d = *dp;
         if (noop(in) && ctx(in, "inPlace").empty()) return StepResult::done();  // a reader only: the CM goes on
         return from(d.rt.set_ha_paused(key_of(in), true), "pausing failover"); }},
      {"restart-primary", [dp](const StepInput& in) { return restart_primary_in_place(*dp, in); }},
  };
  for (auto& step : switchover_steps(dp)) def.steps.push_back(std::move(step));
  def.steps.push_back({"resume-ha", [dp](const StepInput& in) {
                         Deps& d = *dp;
                         if (noop(in) && ctx(in, "inPlace").empty()) return StepResult::done();
                         return from(d.rt.set_ha_paused(key_of(in), false), "resuming failover"); }});
  def.steps.push_back({"done", [dp](const StepInput& in) { return restart_done(*dp, in); }});
  def.point_of_no_return = 5;  // from the fence on it finishes (or waits for a human)
  def.compensation = switchover_compensation(dp);
  return def;
}

}  // namespace polarstack::cluster::detail
