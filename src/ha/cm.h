// The Cluster Manager (`polarstack cm --dir <dir>`): one per cluster, a process of its
// own, independent of the operator and the API server. It probes every instance through
// the Runtime port, decides with ha::decide (decision.h), and when the primary has failed
// it fences it, promotes the best replica, repoints the others, and brings the old
// primary back as a replica when it returns. It records what it did in Events and status
// when the API is reachable, and keeps working when it is not.
//
// - One CM acts for a cluster at a time: it holds an exclusive flock on <dir>/cm.lock.
// - Policy from the cluster's spec (ha.enabled, probeIntervalMs, failureTimeoutMs),
//   refreshed from the API every few seconds; the last one known stays in force while the
//   API is down. HA is also paused while <dir>/paused exists (Runtime::set_ha_paused).
// - While active it probes "as the CM", so a primary whose postmaster dies is left down
//   for it: it fails over, or, with no candidate, asks for a restart in place.
// - Leases and terms: its probes grant the primary a lease (spec.ha.leaseMs) and tell
//   every instance the current term. A primary it cannot reach is failed over only after
//   every replica was detached and that lease ran out (the primary fences itself when
//   neither the CM nor a replica renewed it); a primary of an older term is stale.
// - Sync mode (spec.replication.mode: sync): it keeps synchronous_standby_names = ANY k
//   (every other instance) on the primary, and fails over only to a replica proven to
//   hold every acknowledged commit (decision.h).
// - Its own lateness: a round that starts late, or a probe that returns long after its
//   deadline, means the CM itself was not scheduled (SIGSTOP, a starved machine). That
//   time is not held against anyone: "unhealthy since" moves forward by it, and a probe
//   that failed that way is inconclusive (the instance keeps its last conclusive state).
// - It sleeps until its next round or until an instance pushes word (a postmaster died,
//   Runtime::wait_instance_event), then probes at once.
// - <dir>/state.json: the primary it knows, the failover count, the last decision and
//   the last failover (candidates with LSNs, chosen, reason, detectedToPromotedMs).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "cluster/ports.h"
#include "core/json.h"
#include "core/workers.h"
#include "ha/decision.h"
#include "runtime/runtime.h"

namespace polarstack::ha {

class ClusterManager {
 public:
  ClusterManager(runtime::Runtime& rt, cluster::ClusterApi& api, runtime::ClusterKey cluster, std::string dir);
  // Runs until `stop`; returns the exit code.
  int run(const std::atomic<bool>& stop);

 private:
  using Clock = std::chrono::steady_clock;
  struct Health {
    Clock::time_point unhealthy_since{}, healthy_since{};
    bool healthy = false;
    Clock::time_point last_follow{};
    Clock::time_point not_streaming_since{};  // a replica without a WAL receiver, since
    Clock::time_point renewal_lands_by{};     // the latest a lease renewal sent to it may arrive
    runtime::InstanceState last{};            // its last conclusive probe
    Clock::time_point probed_at{};            // when it was last asked
  };
  // A failover from a primary that cannot be reached (so not fenced by the CM): every
  // replica was detached (no longer renews its lease); promotion waits until the lease it
  // may still hold has run out, by then it has fenced itself.
  struct LeaseWait {
    std::string primary;
    Clock::time_point until;
  };
  void refresh_policy();
  void tick();
  // The CM's own lateness: time it was not scheduled (stopped, starved of CPU) does not
  // count against anyone. Moves every "unhealthy since" forward by `lag`.
  void forgive(Clock::duration lag, const std::string& why);
  void failover(const Decision& d, const std::vector<runtime::InstanceInfo>& all,
                const std::map<std::string, runtime::InstanceState>& states, Clock::time_point detected);
  std::optional<std::string> fence_by_lease(const std::string& old, const std::vector<runtime::InstanceInfo>& all,
                                            const core::Error& why);
  void rejoin(const std::vector<runtime::InstanceInfo>& all, const std::map<std::string, runtime::InstanceState>& states);
  void report(const std::string& type, const std::string& reason, const std::string& message);
  // The reporter thread: records reported Events through the API, in order, until `stop`
  // (what is queued then is still sent).
  void record_events(const std::atomic<bool>& stop);
  void save_state();
  // status.ha.lastDecision or .lastFailover (best effort: the API may be down).
  void publish(const char* which, const core::Json& decision);
  // Sync mode: every other instance in synchronous_standby_names = ANY k (...) on `primary`.
  void apply_sync(const std::string& primary, const std::vector<runtime::InstanceInfo>& all);
  // The standbys (and how many of them) commits on `primary` wait for under the policy.
  std::pair<std::vector<std::string>, int> sync_target(const std::string& primary,
                                                       const std::vector<runtime::InstanceInfo>& all) const;

  runtime::Runtime& rt_;
  cluster::ClusterApi& api_;
  runtime::ClusterKey c_;
  std::string dir_;
  Policy policy_;
  std::chrono::milliseconds interval_{300};
  std::chrono::milliseconds lease_{3000};  // spec.ha.leaseMs
  uint64_t term_ = 0;                       // the current primary's term (fencing token)
  std::optional<LeaseWait> lease_wait_;
  Clock::time_point policy_at_{};
  std::string primary_;          // the primary as the CM knows it
  bool known_primary_ = false;   // seen healthy, or recorded in state.json
  bool probe_all_ = true;        // the next round asks every instance (word was pushed)
  int failovers_ = 0;
  std::string last_reason_;
  core::Json last_decision_;
  core::Json last_failover_;     // what the last failover did, and how long it took
  std::map<std::string, Health> health_;
  std::vector<std::string> sync_set_;  // synchronous_standby_names applied on the primary (sync mode)
  int sync_k_ = 0;
  std::vector<std::string> standing_by_;  // replicas a failover could promote now (state.json)
  Clock::time_point primary_failed_since_{}, last_restart_ask_{};
  core::KeyedWorkers probers_;   // one long-lived thread per instance
  int64_t lag_events_ = 0;       // rounds in which the CM noticed it had not been scheduled
  Clock::duration max_lag_{};    // the longest such lateness
  Clock::time_point lag_logged_{};
  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::deque<std::array<std::string, 3>> events_;  // type, reason, message
};

}  // namespace polarstack::ha
