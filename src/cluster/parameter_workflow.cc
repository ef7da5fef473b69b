// UpdateParameters (see workflows.h): spec.parameters reloaded in place, or rolled out
// as a restart with at most one switchover, rolled back at the first instance that does
// not start with them.
#include <algorithm>
#include <optional>

#include "api/instance_class.h"
#include "cluster/rollout.h"
#include "cluster/workflow_steps.h"
#include "core/log.h"
#include "core/lsn.h"

namespace polarstack::cluster::detail {

using core::Json;
using workflow::StepInput;
using workflow::StepResult;

namespace {

std::string dump(const Parameters& p) { return Json(p).dump(); }

std::string list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "nothing" : out;
}

void event(Deps& d, const runtime::ClusterKey& c, const std::string& type, const std::string& reason,
           const std::string& message) {
  if (auto cluster = d.api.get_cluster(c.ns, c.name)) d.api.record_event(*cluster, type, reason, message);
}

// The build an instance is configured with; an instance created before engines were
// recorded runs the system's.
std::string engine_of(Deps& d, const runtime::InstanceState& s) {
  if (!s.engine.empty()) return s.engine;
  auto sys = d.rt.resolve_engine("15");
  return sys ? *sys : "";
}

// What a run sets on every instance (decided by plan), and what it rolls back to.
runtime::Configuration target(const StepInput& in) {
  return {string_map(ctx(in, "parameters")), ctx(in, "engine"), ctx(in, "cpu"), ctx(in, "memory")};
}
runtime::Configuration previous(const StepInput& in) {
  return {string_map(ctx(in, "previous")), ctx(in, "previousEngine"), ctx(in, "previousCpu"),
          ctx(in, "previousMemory")};
}
bool configured_with(Deps& d, const runtime::InstanceState& s, const runtime::Configuration& want) {
  return s.parameters == want.parameters && engine_of(d, s) == want.engine && s.cpu == want.cpu &&
         s.memory == want.memory;
}

// Waits for a healthy cluster, then decides from the primary's parameters and engine how
// the new ones roll out, in which order, and records the ones to roll back to.
// UpdateParameters carries the parameters (context "parameters"), UpgradeMinorVersion the
// version ("version"); what a run does not carry stays as the primary has it.
StepResult plan(Deps& d, const StepInput& in) {
  auto c = key_of(in);
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  std::string primary = primary_of(d, c, *all);
  if (primary.empty()) return StepResult::retry("the cluster has no primary");
  std::vector<std::string> names, replicas;
  for (const auto& i : *all) names.push_back(i.name);
  for (const auto& r : readers(*all, primary, c.name)) replicas.push_back(r.name);
  if (auto r = wait_ready(d, in, names); r.kind != StepResult::Kind::kDone) return r;
  auto ps = d.rt.instance_state(c, primary);
  if (!ps) return StepResult::retry(ps.error().message);
  auto want = wanted_configuration(d, in);
  if (!want) {
    if (want.error().code == core::Code::kNotFound || want.error().code == core::Code::kInvalid) {
      return StepResult::fail("ConfigurationInvalid", want.error().message);
    }
    return StepResult::retry(want.error().message);
  }
  Parameters next = want->parameters;
  std::string old_engine = engine_of(d, *ps), next_engine = want->engine;
  bool limits_change = want->cpu != ps->cpu || want->memory != ps->memory;
  ParameterRollout rollout = plan_parameters(ps->parameters, next);
  if (!rollout.refused.empty()) return StepResult::fail("ConflictingOrder", rollout.refused);
  // Another build is a restart of every instance (replicas first), whatever the parameters say.
  if (next_engine != old_engine && (rollout.mode == ParameterRollout::Mode::kNothing ||
                                    rollout.mode == ParameterRollout::Mode::kReload)) {
    rollout.mode = ParameterRollout::Mode::kReplicasFirst;
    rollout.need_restart.push_back("engine " + old_engine + " -> " + next_engine);
  }
  // New limits alone apply live: a configuration without a restart.
  if (limits_change && rollout.mode == ParameterRollout::Mode::kNothing) rollout.mode = ParameterRollout::Mode::kReload;
  // An instance whose configuration differs from the primary's (left so by a run
  // interrupted before this one) gets the new parameters too, by the same means.
  RolloutOrder order = rollout_order(rollout.mode, primary, replicas);
  if (rollout.mode == ParameterRollout::Mode::kNothing) {
    for (const auto& n : replicas) {
      auto s = d.rt.instance_state(c, n);
      if (s && !configured_with(d, *s, *want)) {
        ParameterRollout own = plan_parameters(s->parameters, next);
        if (engine_of(d, *s) != next_engine) own.need_restart.push_back("engine");
        if (own.need_restart.empty() && rollout.mode == ParameterRollout::Mode::kNothing) {
          rollout.mode = ParameterRollout::Mode::kReload;
        } else if (!own.need_restart.empty()) {
          rollout.mode = ParameterRollout::Mode::kReplicasFirst;
        }
        rollout.changed = own.changed;
        order.in_place.push_back(n);  // in place, without a switchover: the primary has them
      }
    }
  }
  std::vector<std::pair<std::string, int>> pids;
  for (const auto& n : order.in_place) {
    auto s = d.rt.instance_state(c, n);
    int pid = s ? s->postmaster_pid : -1;
    if (pid <= 0) return StepResult::retry(n + " reports no postmaster");
    pids.emplace_back(n, pid);
  }
  bool primary_in_place = rollout.mode != ParameterRollout::Mode::kReload &&
                          std::find(order.in_place.begin(), order.in_place.end(), primary) != order.in_place.end();
  std::string how;
  switch (rollout.mode) {
    case ParameterRollout::Mode::kNothing: how = "nothing to change"; break;
    case ParameterRollout::Mode::kReload: how = "reloaded on every instance, no restart"; break;
    case ParameterRollout::Mode::kReplicasFirst:
      how = "a restart (" + list(rollout.need_restart) + "): " + list(order.in_place) + " in place" +
            (order.switchover ? ", then one switchover from " + primary + " (its restart)" : " (writes pause meanwhile)");
      break;
    case ParameterRollout::Mode::kPrimaryFirst:
      how = "a restart (" + list(rollout.need_restart) + ") lowering " + rollout.lowered + ", so the primary first: " +
            list(order.in_place) + " in place (writes pause while " + primary + " restarts)";
      break;
  }
  std::string what = next_engine != old_engine ? "PostgreSQL " + old_engine + " -> " + next_engine
                     : limits_change ? "class cpu " + (ps->cpu.empty() ? "unlimited" : ps->cpu) + " -> " +
                                           (want->cpu.empty() ? "unlimited" : want->cpu) + ", memory " +
                                           (ps->memory.empty() ? "unlimited" : ps->memory) + " -> " +
                                           (want->memory.empty() ? "unlimited" : want->memory) +
                                           (rollout.changed.empty() ? "" : ", parameters " + list(rollout.changed))
                                     : "parameters " + list(rollout.changed);
  event(d, c, "Normal", "ParametersPlanned", what + ": " + how);
  return StepResult::done({{"mode", mode_name(rollout.mode)},
                           {"order", join_pids(pids)},
                           {"parameters", dump(next)},
                           {"engine", next_engine},
                           {"previous", dump(ps->parameters)},
                           {"previousEngine", old_engine},
                           {"cpu", want->cpu},
                           {"memory", want->memory},
                           {"previousCpu", ps->cpu},
                           {"previousMemory", ps->memory},
                           {"primary", primary},
                           {"pauseHa", primary_in_place ? "true" : "false"},
                           {"noop", order.switchover ? "false" : "true"},
                           {"rollback", ""},
                           {"rollbackReason", ""}});
}

// A configure that failed: limits this runtime cannot enforce end the run (Failed, with
// the reason); anything else is retried.
StepResult configure_failed(const core::Error& e, const std::string& name) {
  if (e.code == core::Code::kUnsupported) return StepResult::fail("LimitsUnavailable", e.message);
  return StepResult::retry("configuring " + name + ": " + e.message);
}

bool restart_mode(const StepInput& in) { return ctx(in, "mode") == "ReplicasFirst" || ctx(in, "mode") == "PrimaryFirst"; }

// The instance did not start with the new parameters: PostgreSQL said why.
std::optional<std::string> start_failed(const runtime::InstanceState& s) {
  if (s.state == "CrashLoop" || s.start_failures >= 2) return s.last_error.empty() ? s.state : s.last_error;
  return std::nullopt;
}

// One instance: configured with `next`, restarted once (for the planned postmaster),
// ready again, a replica streaming from the primary. nullopt once it is; else what the
// step answers meanwhile (a failed start answers done with a rollback planned).
std::optional<StepResult> restart_with(Deps& d, const StepInput& in, const std::string& name, int planned_pid,
                                       const runtime::Configuration& next) {
  auto c = key_of(in);
  auto s = d.rt.instance_state(c, name);
  if (!s) return StepResult::retry(s.error().message);
  if (!s->reachable) return StepResult::wait("waiting for the instance manager of " + name + ": " + s->last_error, d.opts.poll);
  if (!configured_with(d, *s, next)) {
    // A replica restarts only once it has replayed its primary's last start: a primary
    // restarted with a lower max_connections (and the like) wrote it there, and a replica
    // that starts from before it refuses to (insufficient parameter settings).
    if (s->role == "replica") {
      auto all = d.rt.list_instances(c);
      if (!all) return StepResult::retry(all.error().message);
      std::string primary = primary_of(d, c, *all);
      auto ps = primary.empty() ? core::Result<runtime::InstanceState>(runtime::InstanceState{}) : d.rt.instance_state(c, primary);
      if (!ps) return StepResult::retry(ps.error().message);
      auto want = core::parse_lsn(ps->start_lsn), have = core::parse_lsn(s->lsn);
      if (ps->start_lsn.empty() || !want || !have || *have < *want) {
        return StepResult::wait("waiting for " + name + " to replay " + primary + "'s start (" +
                                    (ps->start_lsn.empty() ? "not known yet" : ps->start_lsn) + ", at " + s->lsn + ")",
                                d.opts.poll);
      }
    }
    auto errs = d.rt.configure(c, name, next, false);
    if (!errs) return configure_failed(errs.error(), name);
    return StepResult::wait("configured " + name + "; restarting it", std::chrono::milliseconds(1));
  }
  if (s->postmaster_pid == planned_pid) {
    if (auto st = d.rt.restart(c, name, planned_pid); !st) return StepResult::retry("restarting " + name + ": " + st.error().message);
    return StepResult::wait("restarting " + name, d.opts.poll);
  }
  if (auto why = start_failed(*s)) {
    event(d, c, "Warning", "ParametersRejected", name + " did not start with the new parameters: " + *why);
    return StepResult::done({{"rollback", name}, {"rollbackReason", *why}});
  }
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  auto back = not_back_yet(d, c, name, *s, primary_of(d, c, *all));
  if (!back) return StepResult::retry(back.error().message);
  const std::string& waiting = *back;
  if (waiting.empty()) return std::nullopt;
  if (step_age(in) > d.opts.ready_timeout) {
    return StepResult::done({{"rollback", name}, {"rollbackReason", "not ready " + std::to_string(d.opts.ready_timeout.count()) +
                                                                        " min after its restart: " + waiting}});
  }
  return StepResult::wait(waiting, d.opts.poll);
}

StepResult apply(Deps& d, const StepInput& in) {
  auto c = key_of(in);
  runtime::Configuration next = target(in);
  auto order = split_pids(ctx(in, "order"));
  if (ctx(in, "mode") == "Reload") {
    for (const auto& [name, pid] : order) {
      auto errs = d.rt.configure(c, name, next, true);
      if (!errs) return configure_failed(errs.error(), name);
      if (!errs->empty()) {
        std::string why;
        for (const auto& e : *errs) why += (why.empty() ? "" : "; ") + e;
        event(d, c, "Warning", "ParametersRejected", name + " refused the new parameters on reload: " + why);
        return StepResult::done({{"rollback", name}, {"rollbackReason", "PostgreSQL refused them on reload: " + why}});
      }
    }
    return StepResult::done();
  }
  if (!restart_mode(in)) return StepResult::done();
  for (const auto& [name, pid] : order) {
    if (auto r = restart_with(d, in, name, pid, next)) return *r;
  }
  // The old primary takes them at its restart by the switchover that follows: proven on
  // every replica by now.
  if (!noop(in)) {
    std::string primary = ctx(in, "primary");
    auto s = d.rt.instance_state(c, primary);
    if (!s) return StepResult::retry(s.error().message);
    if (!configured_with(d, *s, next)) {
      auto errs = d.rt.configure(c, primary, next, false);
      if (!errs) return configure_failed(errs.error(), primary);
    }
  }
  return StepResult::done();
}

// After a failed start or reload: every instance back on the parameters it ran with (the
// one that failed restarted with them), failover resumed, and the run Interrupted with
// PostgreSQL's reason. Nothing to do when nothing failed.
StepResult rollback(Deps& d, const StepInput& in) {
  std::string failed = ctx(in, "rollback");
  if (failed.empty()) return StepResult::done();
  auto c = key_of(in);
  runtime::Configuration before = previous(in);
  bool reload = ctx(in, "mode") == "Reload";
  for (const auto& [name, pid] : split_pids(ctx(in, "order"))) {
    auto s = d.rt.instance_state(c, name);
    if (!s) return StepResult::retry(s.error().message);
    if (!configured_with(d, *s, before)) {
      auto errs = d.rt.configure(c, name, before, reload || name != failed);
      if (!errs) return StepResult::retry("rolling back " + name + ": " + errs.error().message);
      if (name == failed && !reload) {
        if (auto st = d.rt.restart(c, name, 0); !st) return StepResult::retry("restarting " + name + ": " + st.error().message);
      }
    }
  }
  auto s = d.rt.instance_state(c, failed);
  if (!s) return StepResult::retry(s.error().message);
  if (!s->ready) {
    return StepResult::wait("rolling back " + failed + " (" + s->state +
                                (s->last_error.empty() ? "" : ": " + s->last_error) + ")",
                            d.opts.poll);
  }
  if (ctx(in, "pauseHa") == "true") {
    if (auto st = d.rt.set_ha_paused(c, false); !st) return StepResult::retry("resuming failover: " + st.error().message);
  }
  std::string msg = failed + " was rolled back to its previous " +
                    (ctx(in, "engine") != ctx(in, "previousEngine") ? "engine (PostgreSQL " + ctx(in, "previousEngine") + ")"
                                                                    : std::string("parameters")) +
                    ": " + ctx(in, "rollbackReason");
  event(d, c, "Warning", "ParametersRolledBack", msg);
  return StepResult::interrupt("ParametersRejected", msg + "; fix spec." +
                                                        (in.instance.definition == "UpgradeMinorVersion" ? "version"
                                                         : in.instance.definition == "ChangeClass"       ? "resources"
                                                                                                         : "parameters") +
                                                        " (or resume to try again)");
}

StepResult finish(Deps& d, const StepInput& in) {
  auto c = key_of(in);
  std::string mode = ctx(in, "mode");
  std::string names;
  for (const auto& [n, p] : split_pids(ctx(in, "order"))) names += (names.empty() ? "" : ", ") + n;
  std::string what = ctx(in, "engine") != ctx(in, "previousEngine") ? "PostgreSQL " + ctx(in, "engine")
                     : (ctx(in, "cpu") != ctx(in, "previousCpu") || ctx(in, "memory") != ctx(in, "previousMemory"))
                         ? "class (cpu " + ctx(in, "cpu") + ", memory " + ctx(in, "memory") + ")"
                         : "parameters";
  std::string msg = mode == "Nothing" ? "nothing to change"
                    : mode == "Reload" ? what + " reloaded on " + names
                                       : what + " applied by restarting " + names +
                                             (noop(in) ? "" : ", and " + ctx(in, "primary") + " by a switchover to " +
                                                                 ctx(in, "target"));
  event(d, c, "Normal", "ParametersApplied", msg);
  return StepResult::done();
}

}  // namespace

core::Result<runtime::Configuration> wanted_configuration(Deps& d, const StepInput& in) {
  runtime::Configuration out;
  auto c = key_of(in);
  Parameters user = string_map(ctx(in, "parameters"));
  auto res = core::parse_json(ctx(in, "resources").empty() ? "{}" : ctx(in, "resources"));
  if (res && res->is_object()) {
    out.cpu = res->value("cpu", "");
    out.memory = res->value("memory", "");
    std::string klass = res->value("class", "");
    if (!klass.empty()) {
      auto cm = d.api.get_config_map(c.ns, api::kClassesConfigMap);
      if (!cm && cm.error().code != core::Code::kNotFound) return std::unexpected(cm.error());
      const Json data = cm ? cm->value("data", Json::object()) : Json::object();
      if (!data.contains(klass) || !data[klass].is_string()) {
        std::string known;
        for (const auto& [k, v] : data.items()) known += (known.empty() ? "" : ", ") + k;
        return core::fail(core::Code::kNotFound, "no instance class \"" + klass + "\" in ConfigMap " + c.ns + "/" +
                                                     api::kClassesConfigMap + " (classes: " + (known.empty() ? "none" : known) + ")");
      }
      std::string why;
      auto parsed = api::parse_class(data[klass].get<std::string>(), &why);
      if (!parsed) return core::fail(core::Code::kInvalid, "instance class \"" + klass + "\": " + why);
      out.cpu = parsed->cpu;
      out.memory = parsed->memory;
    }
  }
  out.parameters = api::effective_parameters(user, api::memory_bytes(out.memory));
  std::string version = ctx(in, "version");
  auto v = d.rt.resolve_engine(version.empty() ? "15" : version);
  if (!v) return std::unexpected(v.error());
  out.engine = *v;
  return out;
}

workflow::Definition parameter_workflow(const std::shared_ptr<Deps>& dp, const std::string& name) {
  workflow::Definition def;
  def.name = name;
  def.steps = {
      {"plan", [dp](const StepInput& in) { return plan(*dp, in); }},
      {"pause-ha", [dp](const StepInput& in) {
         if (ctx(in, "pauseHa") != "true") return StepResult::done();
         return from(dp->rt.set_ha_paused(key_of(in), true), "pausing failover"); }},
      {"apply", [dp](const StepInput& in) { return apply(*dp, in); }},
      {"rollback", [dp](const StepInput& in) { return rollback(*dp, in); }},
      {"pause-ha-for-switchover", [dp](const StepInput& in) {
         if (noop(in)) return StepResult::done();
         return from(dp->rt.set_ha_paused(key_of(in), true), "pausing failover"); }},
  };
  for (auto& step : switchover_steps(dp)) def.steps.push_back(std::move(step));
  def.steps.push_back({"resume-ha", [dp](const StepInput& in) {
                         if (noop(in) && ctx(in, "pauseHa") != "true") return StepResult::done();
                         return from(dp->rt.set_ha_paused(key_of(in), false), "resuming failover"); }});
  def.steps.push_back({"done", [dp](const StepInput& in) { return finish(*dp, in); }});
  // From the first change on it runs to completion (or to a rollback); a newer spec waits.
  def.point_of_no_return = 1;
  def.resume_from_start = true;  // a resumed run plans again from what the instances run
  def.compensation = switchover_compensation(dp);
  return def;
}

}  // namespace polarstack::cluster::detail
