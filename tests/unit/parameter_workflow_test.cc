// The UpdateParameters / UpgradeMinorVersion / ChangeClass workflow against fakes of its
// ports (support/fake_runtime.h): the order in which instances are configured and
// restarted, how many switchovers, failover paused and resumed, rollback at the first
// instance that does not start or that refuses a reload. PostgreSQL itself is exercised
// by tests/integration/{parameters,upgrade,class}_test.cc.
#include <gtest/gtest.h>

#include "cluster/workflows.h"
#include "support/fake_runtime.h"
#include "support/workflow_fakes.h"

namespace polarstack::testing {
namespace {

using core::Json;
using namespace std::chrono_literals;

struct Rollout {
  FakeRuntime rt;
  FakeClusterApi api;
  MemoryStore store;
  FakeClock clock;
  workflow::Engine engine{store, clock, 7};
  explicit Rollout(runtime::Configuration start = {{}, "15.18", "", ""}) : rt("c", 2, std::move(start)) {
    cluster::register_cluster_workflows(engine, api, rt, {std::chrono::milliseconds(1), std::chrono::minutes(10)});
  }
  // Runs `type` with the cluster's snapshot until it stops; its final state.
  workflow::Instance go(const std::string& type, const Json& parameters, const std::string& version = "15",
                        const Json& resources = Json::object()) {
    auto inst = engine.start("op-" + type, type,
                             {{"namespace", "default"}, {"cluster", "c"}, {"parameters", parameters.dump()},
                              {"version", version}, {"resources", resources.dump()}});
    EXPECT_TRUE(inst) << inst.error().message;
    for (int i = 0; i < 500; ++i) {
      auto p = engine.advance(*inst);
      EXPECT_TRUE(p) << p.error().message;
      if (!p || !p->next) break;
      if (*p->next > clock.now()) clock.set(*p->next);
    }
    return *inst;
  }
  // The calls of one kind ("restart", "configure", ...), in order, by instance.
  std::vector<std::string> of(const std::string& kind) const {
    std::vector<std::string> out;
    for (const auto& c : rt.calls) {
      if (c.rfind(kind + " ", 0) == 0) out.push_back(c.substr(kind.size() + 1));
    }
    return out;
  }
};

using Strings = std::vector<std::string>;

TEST(ParameterWorkflow, AReloadRestartsNothingAndSwitchesNothingOver) {
  Rollout r;
  auto inst = r.go("UpdateParameters", {{"work_mem", "64MB"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kSucceeded) << inst.message;
  EXPECT_EQ(r.of("reload"), (Strings{"c-0", "c-1", "c-2"}));
  EXPECT_TRUE(r.of("restart").empty());
  EXPECT_EQ(r.rt.calls_starting("fence"), 0);
  EXPECT_EQ(r.rt.calls_starting("pause-ha"), 0) << "failover stays on for a reload";
  for (const auto& [n, f] : r.rt.instances) EXPECT_EQ(f.running.parameters.at("work_mem"), "64MB") << n;
}

TEST(ParameterWorkflow, ARaiseRestartsReplicasFirstThenOneSwitchover) {
  Rollout r;
  auto inst = r.go("UpdateParameters", {{"max_connections", "300"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kSucceeded) << inst.message;
  // Each replica: configured, then restarted, one at a time; then the primary is
  // configured and restarted by the switchover (fenced, then follows the new primary).
  Strings want = {"configure c-1", "restart c-1", "configure c-2", "restart c-2", "configure c-0", "pause-ha", "fence c-0"};
  Strings got(r.rt.calls.begin(), r.rt.calls.begin() + std::min(r.rt.calls.size(), want.size()));
  EXPECT_EQ(got, want);
  EXPECT_EQ(r.rt.calls_starting("promote"), 1) << "exactly one switchover";
  EXPECT_EQ(r.rt.calls_of("follow c-0 " + r.rt.primary()), 1);
  EXPECT_FALSE(r.rt.paused) << "failover resumed";
  for (const auto& [n, f] : r.rt.instances) {
    EXPECT_EQ(f.running.parameters.at("max_connections"), "300") << n;
    EXPECT_TRUE(f.ready) << n;
  }
}

TEST(ParameterWorkflow, ALoweringRestartsThePrimaryFirstInPlaceWithFailoverPaused) {
  Rollout r;
  auto inst = r.go("UpdateParameters", {{"max_connections", "50"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kSucceeded) << inst.message;
  EXPECT_EQ(r.of("restart"), (Strings{"c-0", "c-1", "c-2"}));
  EXPECT_EQ(r.rt.calls.front(), "pause-ha");
  EXPECT_EQ(r.rt.calls.back(), "resume-ha");
  EXPECT_EQ(r.rt.calls_starting("promote"), 0);
  EXPECT_EQ(r.rt.primary(), "c-0");
}

TEST(ParameterWorkflow, AStartPostgresRefusesIsRolledBackAtTheFirstReplica) {
  Rollout r;
  r.rt.starts = [](const runtime::Configuration& c) { return !c.parameters.count("shared_preload_libraries"); };
  auto inst = r.go("UpdateParameters", {{"shared_preload_libraries", "nope"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kInterrupted);
  EXPECT_EQ(inst.reason, "ParametersRejected");
  EXPECT_NE(inst.message.find("c-1 was rolled back to its previous parameters"), std::string::npos) << inst.message;
  EXPECT_NE(inst.message.find("refused by the fake"), std::string::npos) << inst.message;
  // c-1 tried, failed, configured back and restarted; nobody else was touched.
  EXPECT_EQ(r.of("restart"), (Strings{"c-1", "c-1"}));
  EXPECT_EQ(r.of("configure"), (Strings{"c-1", "c-1"}));
  EXPECT_EQ(r.rt.calls_starting("fence"), 0);
  EXPECT_FALSE(r.rt.paused);
  EXPECT_TRUE(r.rt.instances.at("c-1").ready);
  EXPECT_TRUE(r.rt.instances.at("c-1").running.parameters.empty());
  EXPECT_EQ(r.api.events_of("ParametersRolledBack"), 1);
}

TEST(ParameterWorkflow, ALoweringThePrimaryRefusesIsRolledBackAndFailoverResumed) {
  Rollout r;
  r.rt.starts = [](const runtime::Configuration& c) {
    return !c.parameters.count("max_connections") || c.parameters.at("max_connections") != "50";
  };
  auto inst = r.go("UpdateParameters", {{"max_connections", "50"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kInterrupted);
  EXPECT_NE(inst.message.find("c-0 was rolled back"), std::string::npos) << inst.message;
  EXPECT_FALSE(r.rt.paused) << "failover left paused after a rollback";
  EXPECT_TRUE(r.rt.instances.at("c-0").ready);
  EXPECT_EQ(r.of("restart"), (Strings{"c-0", "c-0"})) << "the replicas were not touched";
}

TEST(ParameterWorkflow, AReloadPostgresRefusesIsRolledBackOnEveryInstance) {
  Rollout r;
  r.rt.reload_refuses = [](const runtime::Configuration& c) {
    return c.parameters.count("log_timezone") ? std::vector<std::string>{"log_timezone: invalid value"} : std::vector<std::string>{};
  };
  auto inst = r.go("UpdateParameters", {{"log_timezone", "Mars/Olympus"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kInterrupted);
  EXPECT_NE(inst.message.find("log_timezone: invalid value"), std::string::npos) << inst.message;
  for (const auto& [n, f] : r.rt.instances) EXPECT_TRUE(f.config.parameters.empty()) << n << " kept the refused value";
  EXPECT_TRUE(r.of("restart").empty());
}

TEST(ParameterWorkflow, AMinorUpgradeRestartsEveryInstanceOnTheNewBuild) {
  Rollout r;
  auto inst = r.go("UpgradeMinorVersion", Json::object(), "15.20");
  EXPECT_EQ(inst.phase, workflow::Phase::kSucceeded) << inst.message;
  EXPECT_EQ(r.rt.calls_starting("promote"), 1);
  for (const auto& [n, f] : r.rt.instances) EXPECT_EQ(f.running.engine, "15.20") << n;
  // A build that is not installed: the run fails before changing anything.
  Rollout bad;
  inst = bad.go("UpgradeMinorVersion", Json::object(), "15.99");
  EXPECT_EQ(inst.phase, workflow::Phase::kFailed);
  EXPECT_EQ(inst.reason, "ConfigurationInvalid");
  EXPECT_EQ(bad.rt.calls.size(), 0u);
}

TEST(ParameterWorkflow, AClassChangeSizesMemoryParametersAndANamedClassIsResolved) {
  Rollout r;
  r.api.config_maps["polarstack-instance-classes"] = {{"data", {{"polar.pg.x2.medium", "cpu=2 memory=4Gi"}}}};
  auto inst = r.go("ChangeClass", {{"work_mem", "32MB"}}, "15", {{"class", "polar.pg.x2.medium"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kSucceeded) << inst.message;
  for (const auto& [n, f] : r.rt.instances) {
    EXPECT_EQ(f.running.cpu, "2") << n;
    EXPECT_EQ(f.running.memory, "4Gi") << n;
    EXPECT_EQ(f.running.parameters.at("shared_buffers"), "1048576kB") << n;
    EXPECT_EQ(f.running.parameters.at("work_mem"), "32MB") << n << ": the user's value wins";
  }
  EXPECT_EQ(r.rt.calls_starting("promote"), 1);
  // Only the CPU quota: applied live, nothing restarts.
  Rollout live({{}, "15.18", "1", ""});
  inst = live.go("ChangeClass", Json::object(), "15", {{"cpu", "2"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kSucceeded) << inst.message;
  EXPECT_TRUE(live.of("restart").empty());
  for (const auto& [n, f] : live.rt.instances) EXPECT_EQ(f.config.cpu, "2") << n;
  // A class the ConfigMap does not have: failed, nothing changed.
  Rollout missing;
  inst = missing.go("ChangeClass", Json::object(), "15", {{"class", "polar.pg.nope"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kFailed);
  EXPECT_NE(inst.message.find("no instance class \"polar.pg.nope\""), std::string::npos) << inst.message;
  EXPECT_EQ(missing.rt.calls.size(), 0u);
}

TEST(ParameterWorkflow, NothingToChangeTouchesNothing) {
  Rollout r({{{"work_mem", "64MB"}}, "15.18", "", ""});
  auto inst = r.go("UpdateParameters", {{"work_mem", "64MB"}});
  EXPECT_EQ(inst.phase, workflow::Phase::kSucceeded) << inst.message;
  EXPECT_TRUE(r.rt.calls.empty()) << r.rt.calls.size();
}

}  // namespace
}  // namespace polarstack::testing
