// The Cluster Manager's failover decision: a pure function of what it last observed of
// every instance and the cluster's policy. No I/O, no clock: the caller passes how long
// each instance has been unhealthy or healthy. Every outcome carries a reason code and a
// sentence, and the candidates with their LSNs and why each was or was not eligible, so
// that the CM can explain itself in an Event and in status.
//
// Rules:
// - HA paused: never act (the reason still says when the primary is down).
// - The primary counts as failed at once when its connection is refused or its postmaster
//   is dead; a primary that only times out (hung, SIGSTOP) counts after
//   `timeout_threshold`. Before that the decision is Wait.
// - A candidate is a replica that answers, has a running postmaster, and has been
//   healthy for at least `stable_for` (a flapping instance is not promoted).
// - Async mode: the candidate with the highest received LSN (WAL flushed on the
//   replica), then replayed LSN, then name.
// - Sync mode (`ANY k` over the N standbys in synchronous_standby_names): a commit was
//   acknowledged once k of them had flushed it. Any N - k + 1 of them therefore include
//   one that holds every acknowledged commit, and the one of them with the highest
//   received LSN holds them all. With fewer than N - k + 1 of them reachable, nobody can
//   be proven complete: Blocked, never a guess. A candidate outside the set qualifies if
//   its received LSN is at least that proven bound.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"

namespace polarstack::ha {

struct Member {
  std::string name;
  std::string role;            // "primary", "replica" or "unknown" (PostgreSQL's view)
  bool reachable = false;      // the instance manager answered and a SQL round trip worked
  bool refused = false;        // connection refused (nothing listens): fails at once
  bool postmaster_up = false;  // as reported by the instance manager
  uint64_t received_lsn = 0;   // replica: flushed to its disk
  uint64_t replayed_lsn = 0;   // replica
  bool in_sync_set = false;    // named in synchronous_standby_names when last healthy
  std::chrono::milliseconds unhealthy_for{0};  // 0 when the last probe succeeded
  std::chrono::milliseconds healthy_for{0};    // since it last became healthy
};

struct Policy {
  bool enabled = true;
  bool sync = false;     // spec.replication.mode == sync
  int sync_replicas = 1; // k in ANY k (...)
  std::chrono::milliseconds timeout_threshold{2000};
  std::chrono::milliseconds stable_for{1000};
};

enum class Action { kNone, kWait, kFailover, kBlocked };

struct Candidate {
  std::string name;
  uint64_t received_lsn = 0, replayed_lsn = 0;
  bool eligible = false;
  std::string why_not;  // empty when eligible
};

struct Decision {
  Action action = Action::kNone;
  std::string primary;    // the primary the decision is about
  std::string chosen;     // kFailover: the replica to promote
  std::string reason;     // a code: PrimaryHealthy, PrimarySuspect, PrimaryFailed, HAPaused,
                          // NoPrimary, NoCandidate, SyncNotProvable
  std::string message;    // one sentence for a human
  std::vector<Candidate> candidates;  // every replica, best first
};

Decision decide(const std::vector<Member>& members, const std::string& primary, const Policy& policy);

const char* to_string(Action a);

// The candidates as recorded (status.ha, state.json) and as said in Events.
core::Json candidates_json(const Decision& d);
std::string candidates_text(const Decision& d);

}  // namespace polarstack::ha
