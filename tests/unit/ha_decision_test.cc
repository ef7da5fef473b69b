// The failover decision as a table: healthy and failed primaries, hung primaries below
// and above the threshold, lagging, unreachable and flapping replicas, sync mode with and
// without a provable candidate, HA paused.
#include <gtest/gtest.h>

#include "core/lsn.h"
#include "ha/decision.h"

namespace polarstack::ha {
namespace {

using std::chrono::milliseconds;

Member primary_ok() { return {"c-0", "primary", true, false, true, 0, 0, false, milliseconds(0), milliseconds(60000)}; }
Member primary_refused() { return {"c-0", "unknown", false, true, false, 0, 0, false, milliseconds(300), milliseconds(0)}; }
Member primary_dead_postmaster() { return {"c-0", "unknown", true, false, false, 0, 0, false, milliseconds(100), milliseconds(0)}; }
Member primary_hung(int ms) { return {"c-0", "unknown", false, false, false, 0, 0, false, milliseconds(ms), milliseconds(0)}; }
Member replica(const std::string& name, uint64_t received, uint64_t replayed, bool sync = false) {
  return {name, "replica", true, false, true, received, replayed, sync, milliseconds(0), milliseconds(60000)};
}
Member unreachable(Member m) {
  m.reachable = false;
  m.refused = true;
  m.unhealthy_for = milliseconds(500);
  m.healthy_for = milliseconds(0);
  return m;
}
Member flapping(Member m) {
  m.healthy_for = milliseconds(200);
  return m;
}

Policy async_policy() { return {}; }
Policy sync_policy(int k) {
  Policy p;
  p.sync = true;
  p.sync_replicas = k;
  return p;
}

struct Case {
  std::string name;
  std::vector<Member> members;
  Policy policy;
  Action action;
  std::string chosen;
  std::string reason;
  std::string message_has;
};

TEST(HaDecision, Table) {
  Policy paused;
  paused.enabled = false;
  std::vector<Case> cases = {
      {"healthy primary", {primary_ok(), replica("c-1", 100, 100)}, async_policy(), Action::kNone, "", "PrimaryHealthy", "healthy"},
      {"refused: at once, highest received LSN",
       {primary_refused(), replica("c-1", 100, 100), replica("c-2", 300, 200), replica("c-3", 200, 200)},
       async_policy(), Action::kFailover, "c-2", "PrimaryFailed", "refuses connections"},
      {"dead postmaster: at once", {primary_dead_postmaster(), replica("c-1", 100, 100)}, async_policy(),
       Action::kFailover, "c-1", "PrimaryFailed", "no running postmaster"},
      {"hung below the threshold: wait", {primary_hung(1500), replica("c-1", 100, 100)}, async_policy(), Action::kWait,
       "", "PrimarySuspect", "not answered for 1500 ms"},
      {"hung at the threshold: fail over", {primary_hung(2000), replica("c-1", 100, 100)}, async_policy(),
       Action::kFailover, "c-1", "PrimaryFailed", "not answered for 2000 ms"},
      {"equal received: replayed decides", {primary_refused(), replica("c-1", 300, 100), replica("c-2", 300, 250)},
       async_policy(), Action::kFailover, "c-2", "PrimaryFailed", "replayed 0/FA"},
      {"equal LSNs: name decides", {primary_refused(), replica("c-2", 300, 300), replica("c-1", 300, 300)},
       async_policy(), Action::kFailover, "c-1", "PrimaryFailed", "promoting c-1"},
      {"the most advanced replica is unreachable", {primary_refused(), unreachable(replica("c-1", 900, 900)), replica("c-2", 100, 100)},
       async_policy(), Action::kFailover, "c-2", "PrimaryFailed", "promoting c-2"},
      {"no replica reachable", {primary_refused(), unreachable(replica("c-1", 900, 900))}, async_policy(),
       Action::kBlocked, "", "NoCandidate", "c-1: unreachable"},
      {"no replicas at all", {primary_refused()}, async_policy(), Action::kBlocked, "", "NoCandidate", "no replica can take over"},
      {"flapping replica is not promoted", {primary_refused(), flapping(replica("c-1", 900, 900)), replica("c-2", 100, 100)},
       async_policy(), Action::kFailover, "c-2", "PrimaryFailed", "promoting c-2"},
      {"only a flapping replica", {primary_refused(), flapping(replica("c-1", 900, 900))}, async_policy(), Action::kBlocked,
       "", "NoCandidate", "flapping"},
      {"HA paused", {primary_refused(), replica("c-1", 100, 100)}, paused, Action::kNone, "", "HAPaused",
       "HA is paused"},
      {"sync ANY 1 of 2, both reachable: the most advanced",
       {primary_refused(), replica("c-1", 500, 400, true), replica("c-2", 400, 400, true)}, sync_policy(1),
       Action::kFailover, "c-1", "PrimaryFailed", "promoting c-1"},
      {"sync ANY 1 of 2, one unreachable: not provable",
       {primary_refused(), replica("c-1", 500, 500, true), unreachable(replica("c-2", 600, 600, true))}, sync_policy(1),
       Action::kBlocked, "", "SyncNotProvable", "needs 2 synchronous standbys reachable"},
      {"sync ANY 2 of 2, one unreachable: the other holds everything",
       {primary_refused(), replica("c-1", 500, 500, true), unreachable(replica("c-2", 600, 600, true))}, sync_policy(2),
       Action::kFailover, "c-1", "PrimaryFailed", "promoting c-1"},
      {"sync ANY 1 of 3, two reachable is not enough",
       {primary_refused(), replica("c-1", 500, 500, true), replica("c-2", 500, 500, true), unreachable(replica("c-3", 1, 1, true))},
       sync_policy(1), Action::kBlocked, "", "SyncNotProvable", "2 are"},
      {"sync: an async replica ahead of the bound qualifies",
       {primary_refused(), replica("c-1", 500, 500, true), replica("c-2", 700, 600, false)}, sync_policy(1),
       Action::kFailover, "c-2", "PrimaryFailed", "promoting c-2"},
      {"sync: a sync standby that is flapping still counts for the proof, but is not promoted",
       {primary_refused(), flapping(replica("c-1", 700, 700, true)), replica("c-2", 500, 500, true)}, sync_policy(1),
       Action::kBlocked, "", "NoCandidate", "flapping"},
      {"sync: no synchronous standby known", {primary_refused(), replica("c-1", 500, 500)}, sync_policy(1),
       Action::kBlocked, "", "SyncNotProvable", "not promoting"},
      {"no primary recorded", {replica("c-1", 1, 1)}, async_policy(), Action::kNone, "", "NoPrimary", "no primary"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    std::string primary = tc.reason == "NoPrimary" ? "" : "c-0";
    Decision d = decide(tc.members, primary, tc.policy);
    EXPECT_EQ(to_string(d.action), std::string(to_string(tc.action)));
    EXPECT_EQ(d.chosen, tc.chosen);
    EXPECT_EQ(d.reason, tc.reason);
    EXPECT_NE(d.message.find(tc.message_has), std::string::npos) << d.message;
  }
}

TEST(HaDecision, CandidatesAreExplainedBestFirst) {
  Decision d = decide({primary_refused(), unreachable(replica("c-1", 900, 900)), replica("c-2", 100, 100),
                       replica("c-3", 300, 200)},
                      "c-0", async_policy());
  ASSERT_EQ(d.candidates.size(), 3u);
  EXPECT_EQ(d.candidates[0].name, "c-3");
  EXPECT_TRUE(d.candidates[0].eligible);
  EXPECT_EQ(d.candidates[1].name, "c-2");
  EXPECT_EQ(d.candidates[2].name, "c-1");
  EXPECT_FALSE(d.candidates[2].eligible);
  EXPECT_EQ(d.candidates[2].why_not, "unreachable");
  EXPECT_EQ(d.candidates[2].received_lsn, 900u);
}

TEST(HaDecision, SyncModeExplainsWhyALaggingReplicaIsNotComplete) {
  Decision d = decide({primary_refused(), replica("c-1", 0x500, 0x500, true), replica("c-2", 0x300, 0x300, false)}, "c-0",
                      sync_policy(1));
  ASSERT_EQ(d.chosen, "c-1");
  ASSERT_EQ(d.candidates.size(), 2u);
  EXPECT_FALSE(d.candidates[1].eligible);
  EXPECT_EQ(d.candidates[1].why_not, "received 0/300 < 0/500, which holds every acknowledged commit");
}

TEST(HaDecision, LsnFormatMatchesPostgres) {
  EXPECT_EQ(core::format_lsn(0), "0/0");
  EXPECT_EQ(core::format_lsn((uint64_t{0x16} << 32) | 0xB374D848u), "16/B374D848");
}

}  // namespace
}  // namespace polarstack::ha
