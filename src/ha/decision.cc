#include "ha/decision.h"

#include <algorithm>

#include "core/lsn.h"

namespace polarstack::ha {

namespace {
long long ms(std::chrono::milliseconds d) { return static_cast<long long>(d.count()); }

bool better(const Candidate& a, const Candidate& b) {
  if (a.eligible != b.eligible) return a.eligible;
  if (a.received_lsn != b.received_lsn) return a.received_lsn > b.received_lsn;
  if (a.replayed_lsn != b.replayed_lsn) return a.replayed_lsn > b.replayed_lsn;
  return a.name < b.name;
}
}  // namespace

const char* to_string(Action a) {
  switch (a) {
    case Action::kNone: return "None";
    case Action::kWait: return "Wait";
    case Action::kFailover: return "Failover";
    case Action::kBlocked: return "Blocked";
  }
  return "?";
}

Decision decide(const std::vector<Member>& members, const std::string& primary, const Policy& policy) {
  Decision d;
  d.primary = primary;
  const Member* p = nullptr;
  for (const auto& m : members) p = m.name == primary ? &m : p;
  if (primary.empty() || !p) {
    d.reason = "NoPrimary";
    d.message = "no primary is recorded for the cluster; nothing to fail over from";
    return d;
  }

  // Is the primary failed, suspect or healthy?
  bool healthy = p->reachable && p->postmaster_up && p->unhealthy_for.count() == 0;
  bool failed_now = p->refused || (p->reachable && !p->postmaster_up);
  bool timed_out = !healthy && p->unhealthy_for >= policy.timeout_threshold;
  if (healthy) {
    d.reason = "PrimaryHealthy";
    d.message = "primary " + primary + " is healthy";
    return d;
  }
  std::string how = p->refused ? "refuses connections"
                    : failed_now ? "has no running postmaster"
                                 : "has not answered for " + std::to_string(ms(p->unhealthy_for)) + " ms";
  if (!policy.enabled) {
    d.reason = "HAPaused";
    d.message = "primary " + primary + " " + how + ", but HA is paused (spec.ha.enabled: false)";
    return d;
  }
  if (!failed_now && !timed_out) {
    d.action = Action::kWait;
    d.reason = "PrimarySuspect";
    d.message = "primary " + primary + " " + how + "; failing over after " + std::to_string(ms(policy.timeout_threshold)) + " ms";
    return d;
  }

  // Candidates.
  int sync_total = 0, sync_reachable = 0;
  uint64_t bound = 0;  // sync mode: the highest received LSN among reachable sync standbys
  for (const auto& m : members) {
    if (m.name == primary) continue;
    Candidate c{m.name, m.received_lsn, m.replayed_lsn, false, ""};
    if (!m.reachable) c.why_not = "unreachable";
    else if (!m.postmaster_up) c.why_not = "postmaster not running";
    else if (m.role != "replica") c.why_not = "not a replica (" + m.role + ")";
    else if (m.unhealthy_for.count() > 0) c.why_not = "probe failing";
    else if (m.healthy_for < policy.stable_for) c.why_not = "healthy for only " + std::to_string(ms(m.healthy_for)) + " ms (flapping)";
    else c.eligible = true;
    if (m.in_sync_set) {
      ++sync_total;
      if (m.reachable && m.role == "replica") {
        ++sync_reachable;
        bound = std::max(bound, m.received_lsn);
      }
    }
    d.candidates.push_back(c);
  }

  if (policy.sync) {
    int k = std::max(1, policy.sync_replicas);
    int need = sync_total - k + 1;
    if (sync_total == 0 || sync_reachable < need) {
      for (auto& c : d.candidates) {
        if (c.eligible) c.eligible = false, c.why_not = "cannot be proven to hold every acknowledged commit";
      }
      std::sort(d.candidates.begin(), d.candidates.end(), better);
      d.action = Action::kBlocked;
      d.reason = "SyncNotProvable";
      d.message = "primary " + primary + " " + how + "; sync mode (ANY " + std::to_string(k) + " of " +
                  std::to_string(sync_total) + ") needs " + std::to_string(std::max(need, 1)) +
                  " synchronous standbys reachable to prove a complete candidate, " + std::to_string(sync_reachable) +
                  " are: not promoting";
      return d;
    }
    for (auto& c : d.candidates) {
      if (c.eligible && c.received_lsn < bound) {
        c.eligible = false;
        c.why_not = "received " + core::format_lsn(c.received_lsn) + " < " + core::format_lsn(bound) +
                    ", which holds every acknowledged commit";
      }
    }
  }

  std::sort(d.candidates.begin(), d.candidates.end(), better);
  if (d.candidates.empty() || !d.candidates.front().eligible) {
    d.action = Action::kBlocked;
    d.reason = "NoCandidate";
    d.message = "primary " + primary + " " + how + "; no replica can take over" +
                (d.candidates.empty() ? "" : " (" + d.candidates.front().name + ": " + d.candidates.front().why_not + ")");
    return d;
  }
  const auto& best = d.candidates.front();
  d.action = Action::kFailover;
  d.chosen = best.name;
  d.reason = "PrimaryFailed";
  d.message = "primary " + primary + " " + how + "; promoting " + best.name + " (received " +
              core::format_lsn(best.received_lsn) + ", replayed " + core::format_lsn(best.replayed_lsn) + ")";
  return d;
}

core::Json candidates_json(const Decision& d) {
  core::Json out = core::Json::array();
  for (const auto& c : d.candidates) {
    core::Json j = {{"name", c.name}, {"receivedLsn", core::format_lsn(c.received_lsn)},
              {"replayedLsn", core::format_lsn(c.replayed_lsn)}, {"eligible", c.eligible}};
    if (!c.why_not.empty()) j["whyNot"] = c.why_not;
    out.push_back(j);
  }
  return out;
}

std::string candidates_text(const Decision& d) {
  std::string s;
  for (const auto& c : d.candidates) {
    s += (s.empty() ? "" : "; ") + c.name + " received " + core::format_lsn(c.received_lsn) +
         (c.eligible ? "" : " (" + c.why_not + ")");
  }
  return s.empty() ? "none" : s;
}
}  // namespace polarstack::ha
