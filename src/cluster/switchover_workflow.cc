// The Switchover (see workflows.h): its steps, which RestartInstance, RestartCluster and
// the parameter rollouts run too, its compensation, and the workflow itself.
#include <algorithm>

#include "cluster/primary_status.h"
#include "cluster/workflow_steps.h"
#include "core/log.h"
#include "core/lsn.h"

namespace polarstack::cluster::detail {

using core::Json;
using workflow::StepInput;
using workflow::StepResult;

// --- Switchover -----------------------------------------------------------------------
// choose -> fence-primary -> wait-target -> promote -> repoint -> wait-repointed -> drop-stale-slots
// No acknowledged write is lost: the old primary is shut down cleanly first (every
// session ends, its walsenders send all WAL to the replicas before it exits), and the
// target is promoted only once it has replayed past the end of that WAL.

namespace {

int64_t millis_since_epoch() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

StepResult choose_target(Deps& d, const StepInput& in) {
  if (noop(in)) return StepResult::done();  // a restart planned without a switchover
  auto c = key_of(in);
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  std::string primary = primary_of(d, c, *all);
  auto primary_state = primary.empty() ? core::Result<runtime::InstanceState>(runtime::InstanceState{})
                                       : d.rt.instance_state(c, primary);
  if (primary.empty() || !primary_state || !primary_state->ready || primary_state->role != "primary") {
    if (step_age(in) > d.opts.ready_timeout) return StepResult::interrupt("NoPrimary", "the cluster has no ready primary to switch over from");
    return StepResult::wait("waiting for a ready primary", d.opts.poll);
  }
  std::string target = ctx(in, "target");
  if (!target.empty()) {
    bool known = std::any_of(all->begin(), all->end(), [&](const auto& i) { return i.name == target; });
    if (!known) return StepResult::fail("TargetNotFound", "no instance named \"" + target + "\" in " + c.str());
    if (target == primary) return StepResult::done({{"primary", primary}, {"target", target}, {"noop", "true"}});
    auto s = d.rt.instance_state(c, target);
    if (!s || !s->ready || s->role != "replica") {
      if (step_age(in) > d.opts.ready_timeout) {
        return StepResult::interrupt("TargetNotReady", target + " is not a ready reader");
      }
      return StepResult::wait("waiting for " + target + " to be a ready reader", d.opts.poll);
    }
    return StepResult::done({{"primary", primary}, {"target", target}});
  }
  // The best candidate: the ready reader that has replayed the most WAL (then the lowest number).
  std::string best;
  uint64_t best_lsn = 0;
  for (const auto& i : readers(*all, primary, c.name)) {
    auto s = d.rt.instance_state(c, i.name);
    if (!s || !s->ready || s->role != "replica") continue;
    uint64_t lsn = core::parse_lsn(s->lsn).value_or(0);
    if (best.empty() || lsn > best_lsn) {
      best = i.name;
      best_lsn = lsn;
    }
  }
  if (best.empty()) {
    if (step_age(in) > d.opts.ready_timeout) return StepResult::interrupt("NoCandidate", "no ready reader to switch over to");
    return StepResult::wait("waiting for a ready reader", d.opts.poll);
  }
  return StepResult::done({{"primary", primary}, {"target", best}});
}

StepResult fence_primary(Deps& d, const StepInput& in) {
  if (noop(in)) return StepResult::done();
  auto c = key_of(in);
  std::string primary = ctx(in, "primary");
  int64_t started = millis_since_epoch();
  auto lsn = d.rt.fence(c, primary, std::chrono::seconds(60));  // a clean shutdown, however long it takes
  if (!lsn) return StepResult::retry("fencing " + primary + ": " + lsn.error().message);
  if (lsn->empty()) {
    return StepResult::interrupt("PrimaryCrashed", primary + " was not running cleanly when fenced (it had crashed): "
                                                   "nobody can prove which reader has all of its WAL. It stays fenced; "
                                                   "cancel to start it again as the primary");
  }
  auto cluster = d.api.get_cluster(c.ns, c.name);
  if (cluster) {
    d.api.record_event(*cluster, "Normal", "PrimaryFenced", primary + " was shut down cleanly for the switchover; its WAL ends at " + *lsn);
  }
  return StepResult::done({{"fencedLsn", *lsn}, {"fencedAtMs", std::to_string(started)}});
}

StepResult wait_target(Deps& d, const StepInput& in) {
  if (noop(in)) return StepResult::done();
  auto c = key_of(in);
  std::string target = ctx(in, "target");
  auto s = d.rt.instance_state(c, target);
  if (!s) return StepResult::retry(s.error().message);
  if (s->role == "primary") return StepResult::done();  // promoted before a crash of ours
  auto fenced = core::parse_lsn(ctx(in, "fencedLsn"));
  auto replayed = core::parse_lsn(s->lsn);
  if (fenced && replayed && *replayed > *fenced) return StepResult::done();
  if (step_age(in) > std::chrono::seconds(60)) {
    return StepResult::interrupt("TargetBehind", target + " replayed " + (s->lsn.empty() ? "nothing" : s->lsn) +
                                                     " of the old primary's WAL, which ends at " + ctx(in, "fencedLsn") +
                                                     "; the old primary stays fenced: resume to wait again, or cancel to "
                                                     "start it again as the primary");
  }
  return StepResult::wait(target + " replaying up to " + ctx(in, "fencedLsn"), std::chrono::milliseconds(20));
}

StepResult promote_target(Deps& d, const StepInput& in) {
  if (noop(in)) return StepResult::done();
  auto c = key_of(in);
  std::string target = ctx(in, "target");
  auto s = d.rt.instance_state(c, target);
  if (!s || s->role != "primary") {
    if (auto st = d.rt.promote(c, target); !st) return StepResult::retry("promoting " + target + ": " + st.error().message);
  }
  int64_t took = millis_since_epoch() - std::atoll(ctx(in, "fencedAtMs").c_str());
  auto cluster = d.api.get_cluster(c.ns, c.name);
  // Sync mode: the new primary's commits wait for its replicas before the endpoints send
  // it any. (Set after the promotion: a reload just before it was seen to leave
  // PostgreSQL's startup process waiting out wal_retrieve_retry_interval before it
  // promotes, 5 s by default; the instances now set 200 ms.)
  if (cluster && core::string_at(*cluster, "spec.replication.mode") == "sync") {
    auto all = d.rt.list_instances(c);
    if (!all) return StepResult::retry(all.error().message);
    std::vector<std::string> others;
    for (const auto& i : *all) {
      if (i.name != target) others.push_back(i.name);
    }
    const Json* k = core::find_path(*cluster, "spec.replication.syncReplicas");
    int want = std::min<int>(k && k->is_number_integer() ? k->get<int>() : 1, static_cast<int>(others.size()));
    if (auto st = d.rt.set_sync_standbys(c, target, others, want); !st) {
      return StepResult::retry("synchronous standbys on " + target + ": " + st.error().message);
    }
  }
  // The endpoints move now (best effort: the operator's next observation says the same).
  if (auto st = record_new_primary(d.api, c.ns, c.name, target, ctx(in, "primary")); !st) {
    core::log_warn("operator", "cannot record " + target + " as the primary in status yet: " + st.error().message);
  }
  if (cluster) {
    d.api.record_event(*cluster, "Normal", "Promoted", target + " is the primary; writes were refused for " +
                                                           std::to_string(took) + " ms (fence to promotion)");
  }
  return StepResult::done({{"writeUnavailableMs", std::to_string(took)}});
}

// The instances other than `target` that are not (yet) replicas streaming from it;
// `ready_too`: also those not ready.
core::Result<std::vector<std::string>> not_following(Deps& d, const runtime::ClusterKey& c, const std::string& target,
                                                     bool ready_too) {
  auto all = d.rt.list_instances(c);
  if (!all) return std::unexpected(all.error());
  int target_port = 0;
  for (const auto& i : *all) target_port = i.name == target ? i.port : target_port;
  std::vector<std::string> out;
  for (const auto& i : *all) {
    if (i.name == target) continue;
    auto s = d.rt.instance_state(c, i.name);
    bool there = s && !s->fenced && s->role == "replica" && s->sender_port == target_port && (!ready_too || s->ready);
    if (!there) out.push_back(i.name);
  }
  return out;
}

StepResult repoint(Deps& d, const StepInput& in) {
  if (noop(in)) return StepResult::done();
  auto c = key_of(in);
  std::string target = ctx(in, "target");
  auto names = not_following(d, c, target, false);
  if (!names) return StepResult::retry(names.error().message);
  for (const auto& n : *names) {
    // The target replayed past the old primary's fenced LSN (wait-target): the old primary
    // can follow without a rewind.
    std::string past = n == ctx(in, "primary") ? ctx(in, "fencedLsn") : "";
    if (auto st = d.rt.follow(c, n, target, past); !st) return StepResult::retry(n + " -> " + target + ": " + st.error().message);
  }
  return StepResult::done();
}

StepResult wait_repointed(Deps& d, const StepInput& in) {
  if (noop(in)) return StepResult::done();
  auto names = not_following(d, key_of(in), ctx(in, "target"), true);
  if (!names) return StepResult::retry(names.error().message);
  if (names->empty()) return StepResult::done();
  return wait_ready(d, in, *names);  // reports, times out and interrupts like every wait
}

StepResult drop_stale_slots(Deps& d, const StepInput& in) {
  if (noop(in)) return StepResult::done();
  auto c = key_of(in);
  std::string old = ctx(in, "primary");
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  // The old primary kept the slots of its readers: as a replica it would hold WAL for them forever.
  for (const auto& i : *all) {
    if (i.name == old) continue;
    if (auto st = d.rt.drop_slot(c, old, i.name); !st) return StepResult::retry("slot of " + i.name + " on " + old + ": " + st.error().message);
  }
  auto cluster = d.api.get_cluster(c.ns, c.name);
  if (cluster) {
    d.api.record_event(*cluster, "Normal", "SwitchoverCompleted", "the primary moved from " + old + " to " + ctx(in, "target") +
                                                                      "; writes were refused for " + ctx(in, "writeUnavailableMs") + " ms");
  }
  return StepResult::done();
}

}  // namespace

std::vector<workflow::Step> switchover_steps(const std::shared_ptr<Deps>& dp) {
  return {
      {"choose", [dp](const StepInput& in) { return choose_target(*dp, in); }},
      {"fence-primary", [dp](const StepInput& in) { return fence_primary(*dp, in); }},
      {"wait-target", [dp](const StepInput& in) { return wait_target(*dp, in); }},
      {"promote", [dp](const StepInput& in) { return promote_target(*dp, in); }},
      {"repoint", [dp](const StepInput& in) { return repoint(*dp, in); }},
      {"wait-repointed", [dp](const StepInput& in) { return wait_repointed(*dp, in); }},
      {"drop-stale-slots", [dp](const StepInput& in) { return drop_stale_slots(*dp, in); }},
  };
}

// Cancelled before the promotion: the old primary serves again (unfencing one that was
// not fenced yet does nothing). After it: nothing to undo.
std::vector<workflow::Step> switchover_compensation(const std::shared_ptr<Deps>& dp) {
  return {
      {"restore-primary", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         std::string old = ctx(in, "primary"), target = ctx(in, "target");
         if (old.empty() || noop(in)) return StepResult::done();
         auto t = target.empty() ? core::Result<runtime::InstanceState>(runtime::InstanceState{}) : d.rt.instance_state(c, target);
         if (t && t->role == "primary") return StepResult::done();  // promoted: the switchover stands
         return from(d.rt.unfence(c, old), "unfencing " + old);
       }},
      {"resume-ha", [dp](const StepInput& in) {
         Deps& d = *dp; return from(d.rt.set_ha_paused(key_of(in), false), "resuming failover"); }},
  };
}

workflow::Definition switchover_workflow(const std::shared_ptr<Deps>& dp) {
  workflow::Definition def;
  def.name = "Switchover";
  def.steps = {{"pause-ha", [dp](const StepInput& in) {
                  Deps& d = *dp; return from(d.rt.set_ha_paused(key_of(in), true), "pausing failover"); }}};
  for (auto& step : switchover_steps(dp)) def.steps.push_back(std::move(step));
  def.steps.push_back({"resume-ha", [dp](const StepInput& in) {
                         Deps& d = *dp; return from(d.rt.set_ha_paused(key_of(in), false), "resuming failover"); }});
  def.point_of_no_return = 2;  // from the fence on it finishes (or waits for a human)
  def.compensation = switchover_compensation(dp);
  return def;
}

}  // namespace polarstack::cluster::detail
