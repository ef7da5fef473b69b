#include "cluster/workflows.h"

#include "cluster/workflow_steps.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "cluster/primary_status.h"
#include "core/log.h"
#include "core/lsn.h"

namespace polarstack::cluster {

using core::Json;
using workflow::Step;
using workflow::StepInput;
using workflow::StepResult;

int instance_number(const std::string& cluster, const std::string& instance) {
  if (instance.size() <= cluster.size() + 1 || instance.rfind(cluster + "-", 0) != 0) return -1;
  std::string n = instance.substr(cluster.size() + 1);
  if (n.empty() || n.size() > 4 || !std::all_of(n.begin(), n.end(), ::isdigit)) return -1;
  return std::stoi(n);
}

namespace detail {

const std::string& ctx(const StepInput& in, const std::string& k) {
  static const std::string empty;
  auto it = in.instance.context.find(k);
  return it == in.instance.context.end() ? empty : it->second;
}
runtime::ClusterKey key_of(const StepInput& in) { return {ctx(in, "namespace"), ctx(in, "cluster")}; }
namespace {
int readers_of(const StepInput& in) { return std::stoi(ctx(in, "readers").empty() ? "0" : ctx(in, "readers")); }
}  // namespace

StepResult from(const core::Status& st, const std::string& what) {
  return st ? StepResult::done() : StepResult::retry(what + ": " + st.error().message);
}

// Since when the current step has been running (for timeouts of waits).
std::chrono::system_clock::duration step_age(const StepInput& in) {
  size_t cur = in.instance.current();
  const auto& steps = in.instance.active();
  if (cur >= steps.size()) return {};
  return std::chrono::system_clock::now() - steps[cur].started_at;
}

namespace {
std::map<std::string, std::string> parameters_of(const Json& cluster) {
  std::map<std::string, std::string> out;
  if (const Json* p = core::find_path(cluster, "spec.parameters"); p && p->is_object()) {
    for (auto& [k, v] : p->items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}
std::map<std::string, std::string> parameters_of_text(const std::string& text) {
  std::map<std::string, std::string> out;
  auto j = core::parse_json(text);
  if (j && j->is_object()) {
    for (auto& [k, v] : j->items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}
}  // namespace

// The instance PostgreSQL reports as primary, else the one created as primary.
std::string primary_of(Deps& d, const runtime::ClusterKey& c, const std::vector<runtime::InstanceInfo>& all) {
  std::string created;
  for (const auto& i : all) {
    auto s = d.rt.instance_state(c, i.name);
    if (s && s->role == "primary") return i.name;
    if (i.role == "primary" && created.empty()) created = i.name;
  }
  return created;
}

// Waits until every listed instance is ready; interrupts on a crash loop or a timeout.
StepResult wait_ready(Deps& d, const StepInput& in, const std::vector<std::string>& names) {
  auto c = key_of(in);
  std::vector<std::string> waiting;
  for (const auto& n : names) {
    auto s = d.rt.instance_state(c, n);
    if (!s) return StepResult::retry(s.error().message);
    if (s->state == "CrashLoop") {
      return StepResult::interrupt("InstanceCrashLoop", n + " keeps crashing: " + s->last_error);
    }
    if (!s->ready) waiting.push_back(n + " (" + (s->state.empty() ? "starting" : s->state) +
                                     (s->last_error.empty() ? "" : ": " + s->last_error) + ")");
  }
  if (waiting.empty()) return StepResult::done();
  if (step_age(in) > d.opts.ready_timeout) {
    return StepResult::interrupt("InstanceNotReady", "not ready after " +
                                                         std::to_string(d.opts.ready_timeout.count()) + " min: " + waiting.front());
  }
  std::string msg = "waiting for " + waiting.front();
  if (waiting.size() > 1) msg += " and " + std::to_string(waiting.size() - 1) + " more";
  return StepResult::wait(msg, d.opts.poll);
}

// Readers (every instance but the primary), ordered by number.
std::vector<runtime::InstanceInfo> readers(const std::vector<runtime::InstanceInfo>& all, const std::string& primary,
                                           const std::string& cluster) {
  std::vector<runtime::InstanceInfo> out;
  for (const auto& i : all) {
    if (i.name != primary) out.push_back(i);
  }
  std::sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    return instance_number(cluster, a.name) < instance_number(cluster, b.name);
  });
  return out;
}

namespace {

// Adds readers (slot first, then the clone) until there are `target`.
StepResult add_readers(Deps& d, const StepInput& in, int target) {
  auto c = key_of(in);
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  std::string primary = primary_of(d, c, *all);
  if (primary.empty()) return StepResult::retry("the cluster has no primary");
  auto cluster = d.api.get_cluster(c.ns, c.name);
  if (!cluster) return StepResult::retry(cluster.error().message);
  auto have = readers(*all, primary, c.name);
  // A new reader runs with what its primary runs with (which is spec.parameters unless a
  // rollout of new ones is under way or was rolled back).
  auto ps = d.rt.instance_state(c, primary);
  if (!ps || !ps->reachable) return StepResult::retry("cannot ask " + primary + " for its parameters");
  auto params = ps->parameters.empty() ? parameters_of(*cluster) : ps->parameters;
  std::vector<int> used;
  for (const auto& i : *all) used.push_back(instance_number(c.name, i.name));
  for (int n = static_cast<int>(have.size()), next = 1; n < target; ++n) {
    while (std::find(used.begin(), used.end(), next) != used.end()) ++next;
    used.push_back(next);
    std::string name = c.name + "-" + std::to_string(next);
    if (auto st = d.rt.ensure_slot(c, primary, name); !st) return StepResult::retry("slot for " + name + ": " + st.error().message);
    auto info = d.rt.ensure_instance(c, {name, "replica", primary, "", params, ps->engine, ps->cpu, ps->memory});
    if (!info) return StepResult::retry(name + ": " + info.error().message);
    d.api.record_event(*cluster, "Normal", "ReaderCreated", "reader " + name + " is being cloned from " + primary +
                                                                 " on node " + info->node);
  }
  return StepResult::done();
}

StepResult wait_readers(Deps& d, const StepInput& in, int target) {
  auto c = key_of(in);
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  std::string primary = primary_of(d, c, *all);
  std::vector<std::string> names;
  for (const auto& i : readers(*all, primary, c.name)) names.push_back(i.name);
  if (static_cast<int>(names.size()) < target) return StepResult::retry("readers are missing; expected " + std::to_string(target));
  return wait_ready(d, in, names);
}

// Removes the highest-numbered readers beyond `target` (all of them for target 0).
StepResult remove_readers(Deps& d, const StepInput& in, int target, bool keep_data) {
  auto c = key_of(in);
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  std::string primary = primary_of(d, c, *all);
  auto have = readers(*all, primary, c.name);
  auto cluster = d.api.get_cluster(c.ns, c.name);
  for (int i = static_cast<int>(have.size()) - 1; i >= target; --i) {
    const std::string& name = have[i].name;
    if (auto st = d.rt.remove_instance(c, name, keep_data); !st) return StepResult::retry(name + ": " + st.error().message);
    if (!primary.empty()) {
      if (auto st = d.rt.drop_slot(c, primary, name); !st) return StepResult::retry("slot of " + name + ": " + st.error().message);
    }
    if (cluster) d.api.record_event(*cluster, "Normal", "ReaderRemoved", "reader " + name + " was removed");
  }
  return StepResult::done();
}

workflow::Definition create_workflow(const std::shared_ptr<Deps>& dp) {
  workflow::Definition def;
  def.name = "Create";
  def.steps = {
      {"check-ports", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto cluster = d.api.get_cluster(c.ns, c.name);
         if (!cluster) return StepResult::retry(cluster.error().message);
         for (const char* f : {"readWritePort", "readOnlyPort"}) {
           const Json* p = core::find_path(*cluster, std::string("spec.endpoints.") + f);
           if (!p || !p->is_number_integer() || p->get<int>() == 0) continue;
           std::string why = d.rt.check_port(c, p->get<int>());
           if (!why.empty()) {
             return StepResult::fail("PortInUse", std::string("spec.endpoints.") + f + ": port " +
                                                      std::to_string(p->get<int>()) + " " + why);
           }
         }
         return StepResult::done();
       }},
      {"secrets", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         if (auto st = d.rt.ensure_secrets(c); !st) return from(st, "secrets");
         auto pw = d.rt.superuser_password(c);
         if (!pw) return StepResult::retry(pw.error().message);
         // How clients (polarctl connect/psql) log in: a Secret, as on Kubernetes.
         return from(d.api.ensure_secret(c.ns, c.name + "-superuser", {{"username", "postgres"}, {"password", *pw}}),
                     "secret");
       }},
      {"primary", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto cluster = d.api.get_cluster(c.ns, c.name);
         if (!cluster) return StepResult::retry(cluster.error().message);
         auto all = d.rt.list_instances(c);
         if (!all) return StepResult::retry(all.error().message);
         std::string name = c.name + "-0";
         for (const auto& i : *all) {
           if (i.role == "primary") name = i.name;  // created before a crash
         }
         // The parameters the Create was derived with (a Create stored by an earlier
         // release has none: the cluster's, which could not change then).
         runtime::Configuration want;
         if (in.instance.context.count("version")) {
           auto w = wanted_configuration(d, in);
           if (!w && (w.error().code == core::Code::kNotFound || w.error().code == core::Code::kInvalid)) {
             return StepResult::fail("ConfigurationInvalid", w.error().message);
           }
           if (!w) return StepResult::retry(w.error().message);
           want = *w;
         } else {
           want.parameters = in.instance.context.count("parameters") ? parameters_of_text(ctx(in, "parameters"))
                                                                     : parameters_of(*cluster);
         }
         auto info = d.rt.ensure_instance(c, {name, "primary", "", "", want.parameters, want.engine, want.cpu, want.memory});
         if (!info && (info.error().code == core::Code::kInvalid || info.error().code == core::Code::kUnsupported)) {
           return StepResult::fail(info.error().code == core::Code::kInvalid ? "EngineNotInstalled" : "LimitsUnavailable",
                                   info.error().message);
         }
         if (!info) return StepResult::retry(info.error().message);
         d.api.record_event(*cluster, "Normal", "PrimaryCreated", "primary " + name + " is being initialized on node " +
                                                                      info->node + ", port " + std::to_string(info->port));
         return StepResult::done({{"primary", name}});
       }},
      {"wait-primary", [dp](const StepInput& in) {
         Deps& d = *dp; return wait_ready(d, in, {ctx(in, "primary")}); }},
      {"endpoints", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto cluster = d.api.get_cluster(c.ns, c.name);
         if (!cluster) return StepResult::retry(cluster.error().message);
         auto port = [&](const char* f) {
           const Json* p = core::find_path(*cluster, std::string("spec.endpoints.") + f);
           return p && p->is_number_integer() ? p->get<int>() : 0;
         };
         auto ep = d.rt.ensure_endpoints(c, port("readWritePort"), port("readOnlyPort"));
         if (!ep) {
           if (ep.error().code == core::Code::kConflict) return StepResult::fail("PortInUse", ep.error().message);
           return StepResult::retry(ep.error().message);
         }
         Json status = {{"endpoints", {{"readWrite", "127.0.0.1:" + std::to_string(ep->read_write_port)},
                                       {"readOnly", "127.0.0.1:" + std::to_string(ep->read_only_port)}}}};
         if (auto st = d.api.patch_cluster_status(c.ns, c.name, {{"status", status}}); !st) {
           return StepResult::retry(st.error().message);
         }
         return StepResult::done();
       }},
      {"readers", [dp](const StepInput& in) {
         Deps& d = *dp; return add_readers(d, in, readers_of(in)); }},
      {"wait-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return wait_readers(d, in, readers_of(in)); }},
  };
  // A Create may always be superseded (by a Delete): every later workflow converges.
  def.point_of_no_return = def.steps.size();
  return def;
}

workflow::Definition scale_workflow(const std::shared_ptr<Deps>& dp) {
  workflow::Definition def;
  def.name = "ScaleReaders";
  def.steps = {
      {"add-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return add_readers(d, in, readers_of(in)); }},
      {"wait-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return wait_readers(d, in, readers_of(in)); }},
      {"remove-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return remove_readers(d, in, readers_of(in), false); }},
  };
  def.point_of_no_return = 2;  // removing readers is not undone by a newer spec: it finishes
  return def;
}

}  // namespace

// --- Switchover -----------------------------------------------------------------------
// choose -> fence-primary -> wait-target -> promote -> repoint -> wait-repointed -> drop-stale-slots
// No acknowledged write is lost: the old primary is shut down cleanly first (every
// session ends, its walsenders send all WAL to the replicas before it exits), and the
// target is promoted only once it has replayed past the end of that WAL.

bool noop(const StepInput& in) { return ctx(in, "noop") == "true"; }

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

namespace {

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

bool retain(Deps& d, const runtime::ClusterKey& c) {
  auto cluster = d.api.get_cluster(c.ns, c.name);
  const Json* r = cluster ? core::find_path(*cluster, "spec.storage.retainOnDelete") : nullptr;
  return r && r->is_boolean() && r->get<bool>();
}

workflow::Definition delete_workflow(const std::shared_ptr<Deps>& dp) {
  workflow::Definition def;
  def.name = "Delete";
  def.steps = {
      {"remove-endpoints", [dp](const StepInput& in) {
         Deps& d = *dp;
         // The Cluster Manager goes first: it must not fail over while instances go away.
         if (auto st = d.rt.remove_cluster_manager(key_of(in)); !st) return from(st, "cluster manager");
         return from(d.rt.remove_endpoints(key_of(in)), "endpoints"); }},
      {"remove-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return remove_readers(d, in, 0, retain(d, key_of(in))); }},
      {"remove-primary", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto all = d.rt.list_instances(c);
         if (!all) return StepResult::retry(all.error().message);
         bool keep = retain(d, c);
         for (const auto& i : *all) {
           if (auto st = d.rt.remove_instance(c, i.name, keep); !st) return StepResult::retry(st.error().message);
         }
         return StepResult::done();
       }},
      {"remove-cluster", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         bool keep = retain(d, c);
         if (auto st = d.rt.remove_cluster(c, keep); !st) return from(st, "cluster files");
         return keep ? StepResult::done() : from(d.api.delete_secret(c.ns, c.name + "-superuser"), "secret");
       }},
      {"release", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto cluster = d.api.get_cluster(c.ns, c.name);
         if (!cluster) {
           if (cluster.error().code == core::Code::kNotFound) return StepResult::done();
           return StepResult::retry(cluster.error().message);
         }
         Json finalizers = Json::array();
         if (const Json* f = core::find_path(*cluster, "metadata.finalizers"); f && f->is_array()) {
           for (const auto& x : *f) {
             if (x != kFinalizer) finalizers.push_back(x);
           }
         }
         Json patch = {{"metadata", {{"finalizers", finalizers},
                                     {"resourceVersion", core::string_at(*cluster, "metadata.resourceVersion")}}}};
         return from(d.api.patch_cluster(c.ns, c.name, patch), "finalizer");
       }},
  };
  def.point_of_no_return = 0;
  return def;
}

}  // namespace
}  // namespace detail

void register_cluster_workflows(workflow::Engine& engine, ClusterApi& api, runtime::Runtime& rt, WorkflowOptions opts) {
  using namespace detail;
  auto d = std::make_shared<Deps>(Deps{api, rt, opts});  // shared by the steps
  engine.define(create_workflow(d));
  engine.define(scale_workflow(d));
  engine.define(delete_workflow(d));
  engine.define(switchover_workflow(d));
  engine.define(restart_workflow(d, false));
  engine.define(restart_workflow(d, true));
  engine.define(parameter_workflow(d, "UpdateParameters"));
  engine.define(parameter_workflow(d, "UpgradeMinorVersion"));
  engine.define(parameter_workflow(d, "ChangeClass"));
}

}  // namespace polarstack::cluster
