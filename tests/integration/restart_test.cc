// RestartInstance and RestartCluster on real PostgreSQL 15 under a recording writer: a
// rolling restart restarts every instance once with one switchover and loses no
// acknowledged write; a reader restarts in place, the primary by switchover or in
// place; kill -9 of the server at every step boundary converges without restarting
// anything twice; bad requests change nothing. Bounded waits only.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/harness.h"
#include "support/pg_cluster.h"

namespace polarstack::testing {
namespace {

using core::Json;
using namespace std::chrono_literals;

class RollingRestart : public ::testing::TestWithParam<std::string> {};

TEST_P(RollingRestart, UnderLoadRestartsEachInstanceOnceWithOneSwitchover) {
  bool sync = GetParam() == "sync";
  ServerProcess server("", kClusters);
  Cluster c{server, "rr"};
  std::string extra = sync ? "  replication:\n    mode: sync\n    syncReplicas: 1\n" : "";
  ASSERT_EQ(server.polarctl({"apply", "-f", server.write("rr.yaml", cluster_yaml("rr", 2, extra))}).exit_code, 0);
  ASSERT_TRUE(c.wait_ready(2)) << c.get().dump(1);
  int rw = c.port("readWrite");
  ASSERT_TRUE(c.connect(rw)->exec("create table w (id int primary key)").has_value());
  auto before = start_times(c);
  ASSERT_EQ(before.size(), 3u);

  Writer writer(c, rw);
  ASSERT_TRUE(wait_until([&] { return writer.acknowledged().size() >= 20; }, 30s));
  auto r = server.polarctl({"restart", "rr", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << ops_shown(server);
  EXPECT_NE(r.out.find("rolling restart of rr"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("restart done"), std::string::npos) << r.out;
  std::string name = created_name(r.out);
  EXPECT_TRUE(name.starts_with("rr-restart-")) << r.out;
  size_t at_done = writer.acknowledged().size();
  EXPECT_TRUE(wait_until([&] { return writer.acknowledged().size() >= at_done + 20; }, 60s)) << writer.last_error();
  writer.stop();

  auto op = server.client()->get(kube::operations_ref(), "default", name);
  ASSERT_TRUE(op);
  std::string target = core::string_at(*op, "status.context.target");
  EXPECT_NE(target, "");
  EXPECT_NE(target, "rr-0");
  EXPECT_TRUE(wait_until([&] { return c.ready(2, target); }, 60s)) << c.get().dump(1);
  auto after = start_times(c);
  for (const auto& [n, t] : before) {
    EXPECT_NE(after[n], t) << n << " was not restarted";
    EXPECT_FALSE(after[n].empty()) << n;
  }
  // Readers were restarted in place (once each); the old primary by the switchover.
  EXPECT_EQ(restarts_done(server, "rr", "rr-1"), 1);
  EXPECT_EQ(restarts_done(server, "rr", "rr-2"), 1);
  EXPECT_EQ(restarts_done(server, "rr", "rr-0"), 0);
  // Fenced by a clean shutdown, the old primary follows without a rewind.
  EXPECT_EQ(log_lines(server, "rr", "rr-0", "no rewind"), 1);
  EXPECT_FALSE(std::filesystem::exists(server.home() + "/data/nodes/local-1/default.rr/rr-0/rewind.log"))
      << "pg_rewind ran";
  EXPECT_EQ(events_of(server, "Promoted"), 1) << "exactly one switchover";
  EXPECT_EQ(c.get().value("status", Json::object()).value("ha", Json::object()).value("failovers", 0), 0);
  EXPECT_TRUE(has_event(server, "RestartCompleted"));

  auto acked = writer.acknowledged();
  EXPECT_EQ(count_present(c, rw, acked), std::to_string(acked.size())) << "acknowledged writes lost";
  if (sync) {  // the new primary's commits wait for a standby, as the old one's did
    auto ports = ports_of(c);
    EXPECT_TRUE(wait_until([&] { return c.value(ports[target], "show synchronous_standby_names").starts_with("ANY 1 ("); }, 30s))
        << c.value(ports[target], "show synchronous_standby_names");
  }
  std::printf("rolling restart (%s): %zu commits acknowledged, %d attempts failed (last error: %s)\n", GetParam().c_str(),
              acked.size(), writer.failures(), writer.last_error().c_str());
}

INSTANTIATE_TEST_SUITE_P(RestartTest, RollingRestart, ::testing::Values("async", "sync"),
                         [](const auto& info) { return info.param; });

TEST(RestartTest, AReaderInPlaceThePrimaryInPlaceAndByASwitchover) {
  ServerProcess server("", kClusters);
  Cluster c{server, "ri"};
  ASSERT_EQ(server.polarctl({"apply", "-f", server.write("ri.yaml", cluster_yaml("ri", 1))}).exit_code, 0);
  ASSERT_TRUE(c.wait_ready(1)) << c.get().dump(1);
  int rw = c.port("readWrite");
  ASSERT_TRUE(c.connect(rw)->exec("create table w (id int primary key)").has_value());

  // Bad requests: a clear error, no operation stored.
  struct Bad {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Bad> bad = {
      {{"restart", "ri", "ri-7"}, "ri has no instance named \"ri-7\""},
      {{"restart", "nope"}, "nope"},
      {{"restart"}, "usage"},
      {{"restart", "ri", "--in-place"}, "usage"},
      {{"restart", "ri", "ri-0", "ri-1"}, "usage"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.args.size() > 1 ? b.args[1] : "no args");
    auto res = server.polarctl(b.args);
    EXPECT_NE(res.exit_code, 0);
    EXPECT_NE(res.err.find(b.says), std::string::npos) << res.err;
  }
  struct BadOp {
    Json spec;
    std::string field, says;
  };
  const std::vector<BadOp> bad_ops = {
      {{{"clusterRef", "ri"}, {"type", "RestartInstance"}, {"instance", "ri-5"}}, "spec.instance", "has no instance \"ri-5\""},
      {{{"clusterRef", "ri"}, {"type", "RestartInstance"}}, "spec.instance", "required value for type RestartInstance"},
      {{{"clusterRef", "ri"}, {"type", "RestartCluster"}, {"instance", "ri-1"}}, "spec.instance", "applies only to type"},
      {{{"clusterRef", "ri"}, {"type", "RestartInstance"}, {"instance", "ri-1"}, {"method", "Later"}}, "spec.method",
       "must be one of"},
      {{{"clusterRef", "ri"}, {"type", "RebuildInstance"}, {"instance", "ri-1"}}, "spec.type", "is not implemented"},
  };
  for (const auto& b : bad_ops) {
    SCOPED_TRACE(b.spec.dump());
    Json o = {{"apiVersion", "polarstack.io/v1"}, {"kind", "PolarDBOperation"},
              {"metadata", {{"name", "ri-bad"}, {"namespace", "default"}}}, {"spec", b.spec}};
    auto created = server.client()->create(kube::operations_ref(), "default", o);
    ASSERT_FALSE(created);
    EXPECT_NE(created.error().describe().find(b.field + ": "), std::string::npos) << created.error().describe();
    EXPECT_NE(created.error().describe().find(b.says), std::string::npos) << created.error().describe();
  }
  auto listed = server.client()->list(kube::operations_ref(), "default");
  ASSERT_TRUE(listed);
  for (const auto& o : (*listed)["items"]) EXPECT_TRUE(core::string_at(o, "spec.type").starts_with("Restart") == false);

  Writer writer(c, rw);
  ASSERT_TRUE(wait_until([&] { return writer.acknowledged().size() >= 20; }, 30s));
  // A reader, in place: the primary is not touched.
  auto t0 = start_times(c);
  auto r = server.polarctl({"restart", "ri", "ri-1", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << ops_shown(server);
  auto t1 = start_times(c);
  EXPECT_NE(t1["ri-1"], t0["ri-1"]);
  EXPECT_EQ(t1["ri-0"], t0["ri-0"]);
  EXPECT_EQ(restarts_done(server, "ri", "ri-1"), 1);
  EXPECT_TRUE(wait_until([&] { return c.ready(1, "ri-0"); }, 60s)) << c.get().dump(1);

  // The primary in place: it stays the primary (HA is paused meanwhile: no failover).
  r = server.polarctl({"restart", "ri", "ri-0", "--in-place", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << ops_shown(server);
  auto t2 = start_times(c);
  EXPECT_NE(t2["ri-0"], t1["ri-0"]);
  EXPECT_EQ(t2["ri-1"], t1["ri-1"]);
  EXPECT_EQ(restarts_done(server, "ri", "ri-0"), 1);
  EXPECT_TRUE(wait_until([&] { return c.ready(1, "ri-0"); }, 60s)) << c.get().dump(1);
  EXPECT_TRUE(has_event(server, "InstanceRestarted"));
  EXPECT_EQ(events_of(server, "Promoted"), 0);

  // The primary by a switchover (the default): ri-1 takes over, ri-0 restarts as its reader.
  r = server.polarctl({"restart", "ri", "ri-0", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << ops_shown(server);
  EXPECT_NE(r.out.find("ri-1 is the primary"), std::string::npos) << r.out;
  EXPECT_TRUE(wait_until([&] { return c.ready(1, "ri-1"); }, 60s)) << c.get().dump(1);
  auto t3 = start_times(c);
  EXPECT_NE(t3["ri-0"], t2["ri-0"]);
  EXPECT_EQ(restarts_done(server, "ri", "ri-0"), 1) << "restarted by the switchover, not in place";
  EXPECT_EQ(events_of(server, "Promoted"), 1);
  size_t at_done = writer.acknowledged().size();
  EXPECT_TRUE(wait_until([&] { return writer.acknowledged().size() >= at_done + 20; }, 60s)) << writer.last_error();
  writer.stop();
  EXPECT_EQ(c.get().value("status", Json::object()).value("ha", Json::object()).value("failovers", 0), 0);
  auto acked = writer.acknowledged();
  EXPECT_EQ(count_present(c, rw, acked), std::to_string(acked.size())) << "acknowledged writes lost";

  // With no reader, the primary can only restart in place: asked to switch over, the
  // operation fails at once and says so.
  ASSERT_EQ(server.polarctl({"scale", "ri", "--readers", "0"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return c.ready(0); }, 120s)) << c.get().dump(1);
  std::string primary = core::string_at(c.get(), "status.currentPrimary");
  r = server.polarctl({"restart", "ri", primary, "--wait"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("no ready reader to take over"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("InPlace"), std::string::npos) << r.err;
  ASSERT_EQ(server.polarctl({"cancel", created_name(r.out)}).exit_code, 0);
}

// kill -9 of the server after each step of a rolling restart (a new restart each time).
std::string start_restart(const ServerProcess& server, const Cluster& c, int) {
  auto r = server.polarctl({"restart", c.name});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string name = created_name(r.out);
  EXPECT_TRUE(name.starts_with(c.name + "-restart-")) << r.out;
  return name;
}

TEST(RestartTest, ServerKilledAtEachStepBeforeTheSwitchoverConverges) {
  crash_after_each({"plan", "restart-readers", "pause-ha", "restart-primary", "choose", "fence-primary"}, "kr", start_restart);
}

TEST(RestartTest, ServerKilledAtEachStepOfTheSwitchoverConverges) {
  crash_after_each({"wait-target", "promote", "repoint", "wait-repointed", "drop-stale-slots", "resume-ha", "done"}, "ks",
                   start_restart);
}

}  // namespace
}  // namespace polarstack::testing
