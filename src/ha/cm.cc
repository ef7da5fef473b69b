#include "ha/cm.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "cluster/primary_status.h"
#include "core/failpoints.h"
#include "core/files.h"
#include "core/log.h"
#include "core/lsn.h"
#include "core/time.h"

namespace polarstack::ha {

using core::Json;
using namespace std::chrono_literals;

namespace {
constexpr auto kPolicyEvery = 5s;     // how often the spec is read again
constexpr auto kFollowEvery = 5s;     // at most one follow request per instance this often
constexpr auto kRestartEvery = 5s;    // at most one restart-in-place request this often
constexpr auto kFenceGrace = 300ms;   // a failed primary gets this long to shut down, then is killed
constexpr auto kLeaseMargin = 500ms;  // waited past a lease before promoting in place of its holder
constexpr auto kLagSlack = 250ms;     // lateness beyond this means the CM was not scheduled
constexpr auto kEventGap = 20ms;      // pushed word wakes the loop at most this often
constexpr auto kStopCheck = 250ms;    // the longest single wait (a stop request is seen)
// A streaming replica of a healthy primary is probed at most this often (the primary at
// every round: its lease is renewed by the probes). Everyone is probed again the round the
// primary does not look healthy, and when an instance pushes word.
constexpr auto kReplicaProbeEvery = 1s;

int64_t ms(std::chrono::steady_clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

}  // namespace

ClusterManager::ClusterManager(runtime::Runtime& rt, cluster::ClusterApi& api, runtime::ClusterKey cluster, std::string dir)
    : rt_(rt), api_(api), c_(std::move(cluster)), dir_(std::move(dir)) {}

void ClusterManager::report(const std::string& type, const std::string& reason, const std::string& message) {
  if (type == "Warning") core::log_warn("cm", reason + ": " + message);
  else core::log_info("cm", reason + ": " + message);
  // Recorded by the reporter thread: a slow or absent API never holds up a failover.
  std::lock_guard<std::mutex> lock(events_mu_);
  if (events_.size() < 100) events_.push_back({type, reason, message});
  events_cv_.notify_one();
}

void ClusterManager::record_events(const std::atomic<bool>& stop) {
  std::unique_lock<std::mutex> lock(events_mu_);
  for (;;) {
    events_cv_.wait_for(lock, 1s, [&] { return !events_.empty() || stop.load(); });
    if (events_.empty() && stop.load()) return;
    if (events_.empty()) continue;
    auto e = events_.front();
    events_.pop_front();
    lock.unlock();
    auto cluster = api_.get_cluster(c_.ns, c_.name);
    if (cluster) api_.record_event(*cluster, e[0], e[1], e[2]);  // best effort: the API may be down
    lock.lock();
  }
}

void ClusterManager::publish(const char* which, const Json& decision) {
  Json d = decision;
  d.erase("oldPrimaryFencedAt");  // local details (state.json)
  d.erase("promotedAt");
  d["time"] = core::rfc3339_now();
  Json ha = {{"failovers", failovers_}, {which, d}};
  // Best effort (the API may be down), but a refusal is worth saying.
  if (auto st = api_.patch_cluster_status(c_.ns, c_.name, {{"status", {{"ha", ha}}}}); !st) {
    core::log_warn("cm", std::string("cannot record ") + which + " in status: " + st.error().message);
  }
}

void ClusterManager::save_state() {
  Json st = {{"primary", primary_}, {"failovers", failovers_}, {"lastDecision", last_decision_},
             {"syncStandbys", sync_set_}, {"syncK", sync_k_}, {"standingBy", standing_by_}, {"term", term_},
             {"lagRounds", lag_events_}, {"maxLagMs", ms(max_lag_)}};
  if (!last_failover_.is_null()) st["lastFailover"] = last_failover_;
  core::write_file_atomic(dir_ + "/state.json", st.dump(1) + "\n");
}

void ClusterManager::refresh_policy() {
  policy_at_ = Clock::now();
  auto cluster = api_.get_cluster(c_.ns, c_.name);
  if (!cluster) return;  // the last policy known stays in force
  auto num = [&](const char* path, int fallback) {
    const Json* p = core::find_path(*cluster, path);
    return p && p->is_number_integer() ? p->get<int>() : fallback;
  };
  const Json* enabled = core::find_path(*cluster, "spec.ha.enabled");
  bool was = policy_.enabled;
  policy_.enabled = !enabled || !enabled->is_boolean() || enabled->get<bool>();
  interval_ = std::chrono::milliseconds(num("spec.ha.probeIntervalMs", 300));
  policy_.timeout_threshold = std::chrono::milliseconds(num("spec.ha.failureTimeoutMs", 2000));
  lease_ = std::chrono::milliseconds(num("spec.ha.leaseMs", 3000));
  policy_.stable_for = std::max<std::chrono::milliseconds>(1000ms, 3 * interval_);
  policy_.sync = core::string_at(*cluster, "spec.replication.mode") == "sync";
  policy_.sync_replicas = std::max(1, num("spec.replication.syncReplicas", 1));
  if (was != policy_.enabled) {
    core::log_info("cm", std::string("automatic failover ") + (policy_.enabled ? "enabled" : "paused (spec.ha.enabled: false)"));
  }
}

void ClusterManager::tick() {
  bool paused = !policy_.enabled || rt_.ha_paused(c_);
  auto all = rt_.list_instances(c_);
  if (!all) return;
  auto now = Clock::now();
  auto timeout = std::clamp<std::chrono::milliseconds>(2 * interval_, 200ms, 1000ms);
  std::map<std::string, runtime::InstanceState> states;
  std::vector<Member> members;
  std::string pg_primary;
  for (const auto& i : *all) {
    if (!i.manager_running && !paused) {
      core::log_warn("cm", "instance manager of " + i.name + " is not running: starting it again");
      rt_.ensure_instance(c_, {i.name, "", "", i.node, {}});
    }
  }
  // Every instance at once: one that does not answer (frozen, cut off) costs the tick its
  // timeout once, not once per instance, and the others' leases are renewed on time.
  std::vector<runtime::InstanceState> probed(all->size());
  std::vector<Clock::duration> inconclusive(all->size(), Clock::duration::zero());  // > 0: by how late
  // Quiet: the primary was healthy at its last probe and no one pushed word. Then a
  // replica streaming at its last probe, probed less than kReplicaProbeEvery ago, keeps
  // that state this round instead of being asked again.
  bool quiet = !probe_all_ && !paused && !primary_.empty() && health_.count(primary_) && health_[primary_].healthy;
  probe_all_ = false;
  std::vector<bool> kept(all->size(), false);
  auto probe_round = [&](const std::vector<bool>& only) {
    std::vector<std::pair<std::string, std::function<void()>>> probes;
    for (size_t n = 0; n < all->size(); ++n) {
      if (!only[n]) continue;
      const auto& i = (*all)[n];
      // The lease: granted while HA acts and someone could take over; renewed only for
      // an instance healthy at the last probe (a failing primary's lease runs out).
      auto& hp = health_[i.name];
      // Paused, it only observes: no lease, and no term (a primary promoted by hand while
      // HA is paused is left to whoever did it).
      runtime::CmGrant grant{!paused, all->size() > 1 ? lease_ : 0ms, paused ? 0 : term_};
      bool renew = grant.lease.count() == 0 || hp.healthy || hp.unhealthy_since == Clock::time_point{};
      if (!renew) grant.lease = -1ms;
      else if (grant.lease.count() > 0) hp.renewal_lands_by = Clock::now() + timeout;
      hp.probed_at = Clock::now();
      probes.emplace_back(i.name, [this, &probed, &inconclusive, n, name = i.name, grant, timeout] {
        auto sent = Clock::now();
        auto s = rt_.probe(c_, name, timeout, grant);
        if (s) probed[n] = *s;
        // No answer, and back long after the deadline: this thread was not scheduled in
        // time (the CM stopped or starved), so the silence proves nothing.
        else if (auto over = Clock::now() - sent - timeout; over > kLagSlack) inconclusive[n] = over;
      });
    }
    // Every instance keeps its prober thread, asked this round or not.
    std::vector<std::string> names;
    for (const auto& i : *all) names.push_back(i.name);
    probers_.run_all(probes, names);
  };
  {
    std::vector<bool> ask(all->size(), true);
    for (size_t n = 0; quiet && n < all->size(); ++n) {
      const auto& i = (*all)[n];
      auto h = health_.find(i.name);
      if (i.name == primary_ || h == health_.end() || !h->second.healthy) continue;
      const auto& last = h->second.last;
      if (last.role == "replica" && last.ready && now - h->second.probed_at < std::max<Clock::duration>(interval_, kReplicaProbeEvery)) {
        ask[n] = false;
        kept[n] = true;
        probed[n] = last;
      }
    }
    probe_round(ask);
    // The primary does not look healthy now: the candidates' states must be of this
    // round (their LSNs decide), so those kept are asked after all.
    size_t p = 0;
    while (p < all->size() && (*all)[p].name != primary_) ++p;
    bool primary_fine = p < all->size() && probed[p].reachable && probed[p].postmaster_pid > 0 &&
                        probed[p].role == "primary" && probed[p].state != "PrimaryDown" && probed[p].state != "Restarting" &&
                        probed[p].state != "CrashLoop" && probed[p].state != "Fenced";
    if (!primary_fine && std::find(kept.begin(), kept.end(), true) != kept.end()) {
      probe_round(kept);
      std::fill(kept.begin(), kept.end(), false);
    }
  }
  Clock::duration late{};
  for (size_t n = 0; n < all->size(); ++n) {
    if (inconclusive[n] == Clock::duration::zero()) continue;
    late = std::max(late, inconclusive[n]);
    auto& h = health_[(*all)[n].name];
    if (h.healthy) probed[n] = h.last;  // its last conclusive state stands
  }
  if (late > Clock::duration::zero()) forgive(late, "a probe came back long after its deadline");
  for (size_t n = 0; n < all->size(); ++n) {
    const auto& i = (*all)[n];
    const runtime::InstanceState& st = probed[n];
    states[i.name] = st;
    if (inconclusive[n] == Clock::duration::zero() && !kept[n]) health_[i.name].last = st;
    bool pm_down = st.reachable && (st.postmaster_pid <= 0 || st.state == "PrimaryDown" || st.state == "Restarting" ||
                                    st.state == "CrashLoop" || st.state == "Fenced");
    Member m;
    m.name = i.name;
    m.role = st.reachable ? st.role : "unknown";
    m.reachable = st.reachable && st.role != "unknown";
    m.refused = pm_down;  // the manager answers, PostgreSQL does not run: failed at once
    m.postmaster_up = st.reachable && !pm_down;
    m.replayed_lsn = core::parse_lsn(st.lsn).value_or(0);
    m.received_lsn = std::max(core::parse_lsn(st.received_lsn).value_or(0), m.replayed_lsn);
    // Answering SQL is healthy. A replica's streaming is not required: when the primary
    // dies, every replica stops streaming, and those are exactly the candidates.
    bool healthy = m.reachable && m.postmaster_up;
    bool first = !health_.count(i.name);
    auto& h = health_[i.name];
    // Healthy when first seen: its past is unknown, and counts as stable (a flap is a
    // change this CM has seen).
    if (healthy && (first || !h.healthy)) h.healthy_since = first ? now - std::chrono::hours(1) : now;
    bool streaming = st.role == "replica" && st.ready;
    if (streaming || st.role != "replica") h.not_streaming_since = {};
    else if (h.not_streaming_since == Clock::time_point{}) h.not_streaming_since = now;
    if (!healthy && (h.healthy || h.unhealthy_since == Clock::time_point{})) h.unhealthy_since = now;
    h.healthy = healthy;
    m.unhealthy_for = healthy ? 0ms : std::chrono::duration_cast<std::chrono::milliseconds>(now - h.unhealthy_since);
    m.healthy_for = healthy ? std::chrono::duration_cast<std::chrono::milliseconds>(now - h.healthy_since) : 0ms;
    m.in_sync_set = std::find(sync_set_.begin(), sync_set_.end(), i.name) != sync_set_.end();
    members.push_back(m);
    // Two primaries: the higher term is the real one (the other is stale), else the known.
    if (m.reachable && st.role == "primary" &&
        (pg_primary.empty() || st.term > states[pg_primary].term ||
         (st.term == states[pg_primary].term && i.name == primary_))) {
      pg_primary = i.name;
    }
  }
  // Replicas streaming and stable long enough to be promoted, should the primary fail now
  // (state.json "standingBy"; a replica that just came back waits out stable_for).
  std::vector<std::string> standing_by;
  for (const auto& m : members) {
    if (m.role == "replica" && m.reachable && m.postmaster_up && states[m.name].ready && m.healthy_for >= policy_.stable_for) {
      standing_by.push_back(m.name);
    }
  }
  bool standing_changed = standing_by != standing_by_;
  standing_by_ = std::move(standing_by);
  // The primary: the one PostgreSQL says is primary, else the one we knew, else the one
  // created as primary and not fenced.
  if (!pg_primary.empty() && pg_primary != primary_) {
    if (!primary_.empty()) core::log_info("cm", "the primary is now " + pg_primary + " (was " + primary_ + ")");
    primary_ = pg_primary;
    save_state();
  }
  if (primary_.empty()) {
    for (const auto& i : *all) {
      if (i.role == "primary" && !states[i.name].fenced) primary_ = i.name;
    }
  }
  // The term: the primary's (a promotion elsewhere, a switchover, raises it).
  if (!primary_.empty() && states.count(primary_) && states[primary_].role == "primary" && states[primary_].term > term_) {
    term_ = states[primary_].term;
    standing_changed = true;
  }
  if (standing_changed) save_state();
  if (primary_.empty()) return;  // nothing created yet
  // A primary never seen healthy (still being created) is not failed over; one known from
  // state.json (a CM restarted while it was down) is.
  if (!known_primary_ && !health_[primary_].healthy) return;
  known_primary_ = true;
  Decision d = decide(members, primary_, [&] {
    Policy p = policy_;
    p.enabled = !paused;
    return p;
  }());
  bool primary_ok = d.reason == "PrimaryHealthy";
  if (primary_ok) primary_failed_since_ = {};
  else if (primary_failed_since_ == Clock::time_point{}) primary_failed_since_ = health_[primary_].unhealthy_since;
  if (d.reason != last_reason_) {
    last_decision_ = {{"action", to_string(d.action)}, {"primary", d.primary}, {"chosen", d.chosen}, {"reason", d.reason},
                      {"message", d.message}, {"candidates", candidates_json(d)}};
    if (d.reason == "PrimaryHealthy") {
      if (!last_reason_.empty()) report("Normal", "PrimaryHealthy", d.message);
    } else if (d.action != Action::kFailover) {
      report(d.reason == "HAPaused" ? "Normal" : "Warning", d.reason, d.message + " Candidates: " + candidates_text(d));
    }
    last_reason_ = d.reason;
    save_state();
    publish("lastDecision", last_decision_);
  }
  if (d.action == Action::kFailover) {
    failover(d, *all, states, primary_failed_since_);
    return;
  }
  // No one to fail over to (or none proven complete): the primary's own PostgreSQL is the
  // way back, and it holds every commit it acknowledged.
  // A quorum that is short only for a moment (a standby still rejoining) is waited for
  // during failureTimeoutMs before the primary is restarted in place instead.
  bool give_up = d.reason == "NoCandidate" ||
                 (d.reason == "SyncNotProvable" && primary_failed_since_ != Clock::time_point{} &&
                  now - primary_failed_since_ >= policy_.timeout_threshold);
  if (!paused && give_up && states[primary_].reachable && now - last_restart_ask_ > kRestartEvery &&
      states[primary_].state == "PrimaryDown") {
    last_restart_ask_ = now;
    report("Warning", "RestartInPlace", "no replica can take over from " + primary_ + ": restarting its PostgreSQL in place");
    rt_.restart(c_, primary_, 0);
  }
  if (!paused && primary_ok) {
    apply_sync(primary_, *all);
    rejoin(*all, states);
  }
}

void ClusterManager::forgive(Clock::duration lag, const std::string& why) {
  for (auto& [name, h] : health_) {
    if (!h.healthy && h.unhealthy_since != Clock::time_point{}) h.unhealthy_since += lag;
    if (h.not_streaming_since != Clock::time_point{}) h.not_streaming_since += lag;
  }
  if (primary_failed_since_ != Clock::time_point{}) primary_failed_since_ += lag;
  ++lag_events_;
  max_lag_ = std::max(max_lag_, lag);
  bool long_one = lag > 1s;
  if (long_one || Clock::now() - lag_logged_ > 10s) {
    lag_logged_ = Clock::now();
    core::log_warn("cm", "the Cluster Manager was not scheduled for " + std::to_string(ms(lag)) + " ms (" + why +
                             "): that time is not held against any instance (" + std::to_string(lag_events_) +
                             " such rounds so far, longest " + std::to_string(ms(max_lag_)) + " ms)");
    save_state();
  }
}

std::pair<std::vector<std::string>, int> ClusterManager::sync_target(const std::string& primary,
                                                                     const std::vector<runtime::InstanceInfo>& all) const {
  std::vector<std::string> want;
  if (policy_.sync) {
    for (const auto& i : all) {
      if (i.name != primary) want.push_back(i.name);
    }
  }
  int k = want.empty() ? 0 : std::min<int>(policy_.sync_replicas, static_cast<int>(want.size()));
  return {want, k};
}

void ClusterManager::apply_sync(const std::string& primary, const std::vector<runtime::InstanceInfo>& all) {
  auto [want, k] = sync_target(primary, all);
  if (want == sync_set_ && k == sync_k_) return;
  if (auto st = rt_.set_sync_standbys(c_, primary, want, k); !st) {
    core::log_warn("cm", "cannot set synchronous standbys on " + primary + ": " + st.error().message);
    return;
  }
  std::string list;
  for (const auto& n : want) list += (list.empty() ? "" : ", ") + n;
  core::log_info("cm", want.empty() ? "replication is asynchronous"
                                    : "commits on " + primary + " wait for " + std::to_string(k) + " of: " + list);
  sync_set_ = want;
  sync_k_ = k;
  save_state();
}

void ClusterManager::failover(const Decision& d, const std::vector<runtime::InstanceInfo>& all,
                              const std::map<std::string, runtime::InstanceState>& states, Clock::time_point detected) {
  auto answered = [&](const std::string& n) { return states.count(n) && states.at(n).reachable; };
  bool reachable = answered(d.primary);
  std::string old = d.primary, chosen = d.chosen;
  if (!lease_wait_ || lease_wait_->primary != old) {
    report("Warning", "FailoverStarted", d.message + " Promoting " + chosen + ". Candidates: " + candidates_text(d));
  }
  // 1. Fence the old primary: it must never serve writes again as primary. One whose
  // manager did not answer this tick's probe is not asked (a frozen one would hold us up).
  auto fenced = reachable ? rt_.fence(c_, old, kFenceGrace)
                          : core::Result<std::string>(core::fail(core::Code::kUnavailable, "its instance manager does not answer"));
  std::string fenced_at;
  if (fenced) {
    lease_wait_.reset();
    fenced_at = fenced->empty() ? "unclean stop" : *fenced;
  } else if (auto waited = fence_by_lease(old, all, fenced.error()); !waited) {
    return;  // not yet, or not possible (reported)
  } else {
    fenced_at = *waited;
  }
  core::Failpoints::global().fire("after:cm-fence");
  // Sync mode: the candidate's commits wait for its replicas from the very first one. It
  // is told whom to wait for before it is promoted (a replica keeps the setting unused).
  std::optional<std::pair<std::vector<std::string>, int>> presync;
  if (policy_.sync) {
    auto target = sync_target(chosen, all);
    if (auto st = rt_.set_sync_standbys(c_, chosen, target.first, target.second)) presync = target;
    else core::log_warn("cm", "cannot set synchronous standbys on " + chosen + " before promoting it: " + st.error().message);
  }
  // 2. The other replicas stream from the candidate before it is promoted (cascading):
  // its promotion then ends their timeline on the connection they have, where a reader
  // told only afterwards starts a WAL receiver, connects and switches timelines while the
  // first commits (sync mode) wait for it. Those that did not answer this tick's probe are
  // left to rejoin() (a frozen one would hold up the CM, and the new primary's lease with it).
  std::set<std::string> following;
  auto ask_to_follow = [&](const std::string& name) {
    if (auto st = rt_.follow(c_, name, chosen); !st) {
      core::log_warn("cm", name + " cannot follow " + chosen + " yet: " + st.error().message);
    }
    health_[name].last_follow = Clock::now();
    following.insert(name);
  };
  for (const auto& i : all) {
    if (i.name != chosen && i.name != old && answered(i.name) && states.at(i.name).role == "replica") ask_to_follow(i.name);
  }
  // 3. Promote.
  if (auto st = rt_.promote(c_, chosen); !st) {
    report("Warning", "PromoteFailed", "cannot promote " + chosen + ": " + st.error().message + "; deciding again");
    return;
  }
  core::Failpoints::global().fire("after:cm-promote");
  auto promoted = Clock::now();
  std::string promoted_at = core::rfc3339_now_micros();
  primary_ = chosen;
  lease_wait_.reset();
  if (auto st = rt_.probe(c_, chosen, 1000ms, {true, lease_, term_})) term_ = std::max(term_, st->term);
  ++failovers_;
  int64_t rto = detected == Clock::time_point{} ? 0 : ms(promoted - detected);
  last_failover_ = last_decision_ = {{"action", "Failover"}, {"primary", old}, {"chosen", chosen}, {"reason", d.reason},
                    {"message", d.message}, {"candidates", candidates_json(d)}, {"detectedToPromotedMs", rto},
                    {"oldPrimaryFencedAt", fenced_at}, {"promotedAt", promoted_at}, {"term", term_}};
  // A postmaster that died (kill -9, a crash): its orphaned backends could acknowledge
  // commits until its manager killed them; that window is part of the report.
  std::string orphans;
  // (PrimaryDown: the manager left its dead postmaster down for the CM; the counts are of
  // that death, not of an earlier one.)
  if (states.count(old) && states.at(old).reachable && states.at(old).state == "PrimaryDown" && states.at(old).orphans_killed >= 0) {
    const auto& os = states.at(old);
    last_failover_["orphansKilled"] = os.orphans_killed;
    last_failover_["orphanWindowUs"] = os.orphan_window_us;
    last_decision_ = last_failover_;
    orphans = "; its instance manager killed " + std::to_string(os.orphans_killed) + " orphaned PostgreSQL processes " +
              std::to_string(os.orphan_window_us) + " us after the postmaster died";
  }
  last_reason_ = "FailedOver";
  // (After the record above: whatever state.json shows the new primary in shows why.)
  if (presync) {
    sync_set_ = presync->first;
    sync_k_ = presync->second;
  } else if (policy_.sync) {
    sync_set_.clear();
    sync_k_ = -1;  // forces apply_sync to set it
    apply_sync(chosen, all);
  }
  save_state();
  // 4. Status says so at once, consistently (the operator's next observation fills in the
  // rest): the endpoints route by it, so it comes before anything else that can wait (the
  // follows above only ask: each manager answers before it acts). A
  // conditional patch (resourceVersion), read again on a conflict: the operator writing
  // instances at the same moment is not overwritten with what was read before.
  if (auto st = cluster::record_new_primary(api_, c_.ns, c_.name, chosen, old); !st) {
    core::log_warn("cm", "cannot record the new primary in status (the operator's next observation will): " + st.error().message);
  }
  // 5. The old primary (rewound against the new one, which must be promoted for that) and
  // any other that answered follow now.
  for (const auto& i : all) {
    if (i.name != chosen && answered(i.name) && !following.count(i.name)) ask_to_follow(i.name);
  }
  publish("lastFailover", last_failover_);
  report("Warning", "FailedOver", old + " failed (" + d.reason + "): " + chosen + " was promoted " + std::to_string(rto) +
                                     " ms after the failure was first seen" + orphans + ". Candidates: " + candidates_text(d));
}

// The old primary could not be fenced. If its manager cannot be reached (a frozen or cut
// off node), it fences itself once its lease runs out: detach every replica (they stop
// renewing it), then wait until the lease has certainly run out. Returns what to record
// as where the old primary was fenced once that is so; nothing while waiting, or when it
// cannot be done (reported).
std::optional<std::string> ClusterManager::fence_by_lease(const std::string& old, const std::vector<runtime::InstanceInfo>& all,
                                                          const core::Error& why) {
  bool manager_alive = false;
  for (const auto& i : all) manager_alive = i.name == old ? i.manager_running : manager_alive;
  if (why.code != core::Code::kUnavailable || lease_.count() == 0 || !manager_alive) {
    // A manager that answers but cannot fence, or one that is not running (it is being
    // started again and will answer): try again on the next decision.
    report("Warning", "FenceFailed", "cannot fence " + old + " (" + why.message + "); not promoting anyone until it is fenced");
    return std::nullopt;
  }
  auto now = Clock::now();
  if (!lease_wait_ || lease_wait_->primary != old) {
    for (const auto& i : all) {
      if (i.name == old) continue;
      if (auto st = rt_.detach(c_, i.name); !st && st.error().code != core::Code::kConflict) {
        report("Warning", "FenceFailed", old + " cannot be reached and " + i.name + " cannot be detached from it (" +
                                             st.error().message + "): it may still renew " + old +
                                             "'s lease; not promoting anyone");
        return std::nullopt;
      }
    }
    auto until = std::max(Clock::now(), health_[old].renewal_lands_by) + lease_ + kLeaseMargin;
    lease_wait_ = LeaseWait{old, until};
    report("Warning", "WaitingForLease", old + " cannot be reached (" + why.message + "): every replica stopped renewing its lease; promoting once it has run out, in " +
                                             std::to_string(ms(until - now)) + " ms (by then it has fenced itself)");
    return std::nullopt;
  }
  if (now < lease_wait_->until) return std::nullopt;
  return "lease expired (" + old + " unreachable)";
}

void ClusterManager::rejoin(const std::vector<runtime::InstanceInfo>& all,
                            const std::map<std::string, runtime::InstanceState>& states) {
  int primary_port = 0;
  for (const auto& i : all) primary_port = i.name == primary_ ? i.port : primary_port;
  auto now = Clock::now();
  for (const auto& i : all) {
    if (i.name == primary_) continue;
    const auto& st = states.at(i.name);
    auto& h = health_[i.name];
    if (!st.reachable || now - h.last_follow < kFollowEvery) continue;
    bool fenced = st.fenced && st.state == "Fenced";
    bool astray = st.state == "Running" && st.role == "replica" && !st.ready && st.sender_port != primary_port &&
                  h.not_streaming_since != Clock::time_point{} && now - h.not_streaming_since > kFollowEvery;
    bool stale_primary = st.role == "primary";  // a second primary: it must not serve
    if (!fenced && !astray && !stale_primary) continue;
    h.last_follow = now;
    if (stale_primary) {
      report("Warning", "SecondPrimaryFenced", i.name + " runs as a primary besides " + primary_ + ": fencing it");
      if (auto f = rt_.fence(c_, i.name, kFenceGrace); !f) continue;
    }
    core::log_info("cm", i.name + " rejoins as a replica of " + primary_);
    if (auto st2 = rt_.follow(c_, i.name, primary_); !st2) core::log_warn("cm", i.name + ": " + st2.error().message);
    else report("Normal", "Rejoining", i.name + " is being brought back as a replica of " + primary_);
  }
}

int ClusterManager::run(const std::atomic<bool>& stop) {
  int lock_fd = ::open((dir_ + "/cm.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    core::log_error("cm", "another Cluster Manager already acts for " + c_.str());
    return 3;
  }
  core::write_file_atomic(dir_ + "/cm.pid", std::to_string(::getpid()) + "\n");
  if (auto text = core::read_file(dir_ + "/state.json")) {
    if (auto j = core::parse_json(*text); j && j->is_object()) {
      primary_ = j->value("primary", "");
      failovers_ = j->value("failovers", 0);
      if (j->contains("lastFailover")) last_failover_ = (*j)["lastFailover"];
      known_primary_ = !primary_.empty();
      sync_set_ = j->value("syncStandbys", std::vector<std::string>{});
      sync_k_ = j->value("syncK", 0);
    }
  }
  std::thread reporter([&] { record_events(stop); });
  struct Join {
    std::thread& t;
    ~Join() { t.join(); }
  } join{reporter};
  refresh_policy();
  core::log_info("cm", "acting for " + c_.str() + (primary_.empty() ? "" : ", primary " + primary_) + ", probing every " +
                           std::to_string(interval_.count()) + " ms");
  while (!stop.load()) {
    auto started = Clock::now();
    auto next = started + interval_;
    if (Clock::now() - policy_at_ > kPolicyEvery) refresh_policy();
    tick();
    // Until the next round, or earlier when an instance pushes word (at most every
    // kEventGap: a flood of datagrams cannot spin the loop). Waits in slices of at most
    // kStopCheck so that a stop is seen.
    bool woken = false;
    for (;;) {
      auto until = woken ? std::min(next, started + kEventGap) : next;
      if (stop.load() || Clock::now() >= until) break;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (rt_.wait_instance_event(c_, std::clamp<std::chrono::milliseconds>(left, 1ms, kStopCheck))) woken = true;
    }
    probe_all_ = probe_all_ || woken;
    // Woken on time? A round that starts well after it was due means this process was
    // not running (stopped, or the machine starved it).
    auto late = Clock::now() - next;
    if (!woken && late > kLagSlack) forgive(late, "the round started late");
  }
  ::unlink((dir_ + "/cm.pid").c_str());
  core::log_info("cm", "stopped");
  return 0;
}

}  // namespace polarstack::ha
