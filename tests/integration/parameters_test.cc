// spec.parameters on real PostgreSQL 15 under a recording writer: a reload-only change
// restarts nothing; a postmaster parameter raised rolls out replicas first with exactly
// one switchover; one lowered that a replica must hold at least as high goes to the
// primary first with none; a value PostgreSQL refuses at start or on reload is rolled
// back at the first instance and the run Interrupted with PostgreSQL's reason; bad
// input changes nothing; kill -9 of the server at every step boundary converges.
#include <gtest/gtest.h>

#include "support/harness.h"
#include "support/pg_cluster.h"

namespace polarstack::testing {
namespace {

using core::Json;
using namespace std::chrono_literals;

std::string with_parameters(const std::string& name, int readers, const std::map<std::string, std::string>& params,
                            const std::string& extra = "") {
  std::string p = "  parameters:\n";
  for (const auto& [k, v] : params) p += "    " + k + ": \"" + v + "\"\n";
  return cluster_yaml(name, readers, (params.empty() ? "" : p) + extra);
}

// Applies the cluster with `params` and waits for the UpdateParameters it derives to end.
Json update(const ServerProcess& server, const Cluster& c, int readers, const std::map<std::string, std::string>& params) {
  return apply_and_wait_derived(server, c, with_parameters(c.name, readers, params), "updateparameters");
}

// SHOW `param` on every instance, by name.
std::map<std::string, std::string> shown(const Cluster& c, const std::string& param) {
  std::map<std::string, std::string> out;
  for (const auto& [n, port] : ports_of(c)) out[n] = c.value(port, "show " + param);
  return out;
}

bool everywhere(const Cluster& c, const std::string& param, const std::string& value) {
  auto s = shown(c, param);
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](const auto& kv) { return kv.second == value; });
}

// Every instance's status reports `param` = `value` and nothing pending a restart.
bool status_shows(const Cluster& c, const std::string& param, const std::string& value) {
  auto list = c.instances();
  if (list.empty()) return false;
  for (const auto& i : list) {
    if (core::string_at(i, "parameters." + param) != value) return false;
    if (i.contains("pendingRestart")) return false;
  }
  return true;
}

TEST(ParametersTest, ReloadRestartRaiseAndLowerUnderLoad) {
  ServerProcess server("", kClusters);
  Cluster c{server, "pm"};
  std::map<std::string, std::string> params = {{"work_mem", "8MB"}};
  ASSERT_EQ(server.polarctl({"apply", "-f", server.write("pm.yaml", with_parameters("pm", 2, params))}).exit_code, 0);
  ASSERT_TRUE(c.wait_ready(2)) << c.get().dump(1);
  EXPECT_TRUE(everywhere(c, "work_mem", "8MB"));
  EXPECT_TRUE(wait_until([&] { return status_shows(c, "work_mem", "8MB"); }, 30s)) << c.instances().dump(1);
  int rw = c.port("readWrite");
  ASSERT_TRUE(c.connect(rw)->exec("create table w (id int primary key)").has_value());
  Writer writer(c, rw);
  ASSERT_TRUE(wait_until([&] { return writer.acknowledged().size() >= 20; }, 30s));

  // 1. Reload only (user and superuser context): nothing restarts, no switchover.
  auto t0 = start_times(c);
  params = {{"work_mem", "16MB"}, {"log_min_duration_statement", "1s"}};
  Json op = update(server, c, 2, params);
  ASSERT_EQ(core::string_at(op, "status.phase"), "Succeeded") << op.dump(1);
  EXPECT_EQ(core::string_at(op, "status.context.mode"), "Reload");
  EXPECT_TRUE(wait_until([&] { return everywhere(c, "work_mem", "16MB") && everywhere(c, "log_min_duration_statement", "1s"); }, 30s))
      << Json(shown(c, "work_mem")).dump();
  EXPECT_EQ(start_times(c), t0) << "a reload restarted an instance";
  EXPECT_EQ(events_of(server, "Promoted"), 0);
  EXPECT_TRUE(wait_until([&] { return status_shows(c, "work_mem", "16MB"); }, 30s)) << c.instances().dump(1);

  // 2. Raised postmaster parameters: every instance restarts, replicas first, then one switchover.
  params["shared_buffers"] = "64MB";
  params["max_connections"] = "150";
  op = update(server, c, 2, params);
  ASSERT_EQ(core::string_at(op, "status.phase"), "Succeeded") << op.dump(1) << ops_shown(server);
  EXPECT_EQ(core::string_at(op, "status.context.mode"), "ReplicasFirst");
  std::string target = core::string_at(op, "status.context.target");
  EXPECT_NE(target, "");
  EXPECT_NE(target, "pm-0");
  EXPECT_EQ(events_of(server, "Promoted"), 1) << "exactly one switchover";
  ASSERT_TRUE(wait_until([&] { return c.ready(2, target); }, 60s)) << c.get().dump(1);
  auto t1 = start_times(c);
  for (const auto& [n, t] : t0) EXPECT_NE(t1[n], t) << n << " was not restarted";
  EXPECT_EQ(restarts_done(server, "pm", "pm-0"), 0) << "the old primary restarts by the switchover";
  EXPECT_TRUE(everywhere(c, "shared_buffers", "64MB")) << Json(shown(c, "shared_buffers")).dump();
  EXPECT_TRUE(everywhere(c, "max_connections", "150"));
  EXPECT_TRUE(wait_until([&] { return status_shows(c, "shared_buffers", "64MB"); }, 30s)) << c.instances().dump(1);

  // 3. Lowered max_connections: the primary first (in place, HA paused), no switchover.
  params["max_connections"] = "120";
  op = update(server, c, 2, params);
  ASSERT_EQ(core::string_at(op, "status.phase"), "Succeeded") << op.dump(1) << ops_shown(server);
  EXPECT_EQ(core::string_at(op, "status.context.mode"), "PrimaryFirst");
  EXPECT_EQ(events_of(server, "Promoted"), 1) << "no switchover for a lowering";
  ASSERT_TRUE(wait_until([&] { return c.ready(2, target); }, 60s)) << c.get().dump(1);
  EXPECT_TRUE(everywhere(c, "max_connections", "120"));
  auto t2 = start_times(c);
  for (const auto& [n, t] : t1) {
    EXPECT_NE(t2[n], t) << n << " was not restarted";
    if (n != target) {
      EXPECT_LT(t2[target], t2[n]) << "the primary restarts before " << n;
    }
  }
  EXPECT_EQ(c.get().value("status", Json::object()).value("ha", Json::object()).value("failovers", 0), 0);
  EXPECT_TRUE(has_event(server, "ParametersApplied"));

  size_t at_done = writer.acknowledged().size();
  EXPECT_TRUE(wait_until([&] { return writer.acknowledged().size() >= at_done + 20; }, 60s)) << writer.last_error();
  writer.stop();
  auto acked = writer.acknowledged();
  EXPECT_EQ(count_present(c, rw, acked), std::to_string(acked.size())) << "acknowledged writes lost";
  std::printf("parameter rollouts: %zu commits acknowledged, %d attempts failed (last error: %s)\n", acked.size(),
              writer.failures(), writer.last_error().c_str());
}

TEST(ParametersTest, ValuesPostgresRefusesAreRolledBackAndBadInputChangesNothing) {
  ServerProcess server("", kClusters);
  Cluster c{server, "pr"};
  ASSERT_EQ(server.polarctl({"apply", "-f", server.write("pr.yaml", with_parameters("pr", 1, {}))}).exit_code, 0);
  ASSERT_TRUE(c.wait_ready(1)) << c.get().dump(1);

  // Bad input: 422 naming the field, nothing stored.
  struct Bad {
    std::map<std::string, std::string> params;
    std::string field, says;
  };
  const std::vector<Bad> bad = {
      {{{"shared_bufers", "1GB"}}, "spec.parameters[shared_bufers]", "unrecognized configuration parameter"},
      {{{"work_mem", "10XB"}}, "spec.parameters[work_mem]", "valid units for this parameter"},
      {{{"port", "6000"}}, "spec.parameters[port]", "is managed by polarstack"},
      {{{"synchronous_standby_names", "*"}}, "spec.parameters[synchronous_standby_names]", "is managed by polarstack"},
      {{{"max_connections", "0"}}, "spec.parameters[max_connections]", "outside the valid range"},
      {{{"max_connections", "50"}, {"max_worker_processes", "16"}}, "spec.parameters[max_connections]",
       "cannot be lowered in the update that raises max_worker_processes"},
  };
  int64_t gen = generation_of(c);
  for (const auto& b : bad) {
    SCOPED_TRACE(b.field);
    auto r = server.polarctl({"apply", "-f", server.write("bad.yaml", with_parameters("pr", 1, b.params))});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(b.field), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(b.says), std::string::npos) << r.err;
  }
  EXPECT_EQ(generation_of(c), gen) << "a refused update was stored";
  Json direct = {{"apiVersion", "polarstack.io/v1"}, {"kind", "PolarDBOperation"},
                 {"metadata", {{"name", "pr-direct"}, {"namespace", "default"}}},
                 {"spec", {{"clusterRef", "pr"}, {"type", "UpdateParameters"}, {"parameters", {{"work_mem", "1MB"}}}}}};
  auto created = server.client()->create(kube::operations_ref(), "default", direct);
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().describe().find("change spec.parameters"), std::string::npos) << created.error().describe();

  // A library that does not exist: the first instance (the replica) fails to start, is
  // rolled back, and the run is Interrupted with PostgreSQL's words; the primary is not touched.
  auto t0 = start_times(c);
  Json op = update(server, c, 1, {{"shared_preload_libraries", "no_such_library"}});
  ASSERT_EQ(core::string_at(op, "status.phase"), "Interrupted") << op.dump(1);
  EXPECT_EQ(core::string_at(op, "status.reason"), "ParametersRejected");
  EXPECT_NE(core::string_at(op, "status.message").find("pr-1 was rolled back"), std::string::npos) << op.dump(1);
  EXPECT_NE(core::string_at(op, "status.message").find("no_such_library"), std::string::npos) << op.dump(1);
  ASSERT_TRUE(wait_until([&] { return c.instances_ready(2, "pr-0"); }, 60s)) << c.get().dump(1);
  auto t1 = start_times(c);
  EXPECT_EQ(t1["pr-0"], t0["pr-0"]) << "the primary was restarted";
  EXPECT_TRUE(everywhere(c, "shared_preload_libraries", ""));
  EXPECT_EQ(events_of(server, "Promoted"), 0);
  EXPECT_TRUE(has_event(server, "ParametersRolledBack"));
  EXPECT_FALSE(server.client()->get(kube::operations_ref(), "default", "pr-updateparameters-g" + std::to_string(generation_of(c) + 1)))
      << "planned again";
  EXPECT_LT(c.get()["status"].value("observedGeneration", 0), generation_of(c)) << "a rolled back spec counts as observed";

  // A value refused on reload (a time zone that does not exist): rolled back on every instance.
  op = update(server, c, 1, {{"log_timezone", "Mars/Olympus_Mons"}});
  ASSERT_EQ(core::string_at(op, "status.phase"), "Interrupted") << op.dump(1);
  EXPECT_NE(core::string_at(op, "status.message").find("log_timezone"), std::string::npos) << op.dump(1);
  EXPECT_EQ(start_times(c), t1) << "a reload restarted an instance";
  EXPECT_FALSE(everywhere(c, "log_timezone", "Mars/Olympus_Mons"));

  // Fixed: the next update applies, and the spec is observed.
  op = update(server, c, 1, {{"work_mem", "12MB"}});
  ASSERT_EQ(core::string_at(op, "status.phase"), "Succeeded") << op.dump(1);
  EXPECT_TRUE(wait_until([&] { return everywhere(c, "work_mem", "12MB"); }, 30s));
  EXPECT_TRUE(wait_until([&] { return c.get()["status"].value("observedGeneration", 0) == generation_of(c); }, 30s))
      << c.get().dump(1);
}

// kill -9 of the server after each of the UpdateParameters' own steps (those of its
// switchover are the Switchover's, crash-tested with the restarts): a new value of
// shared_buffers each round. It converges, every instance restarted once, none twice.
TEST(ParametersTest, ServerKilledAtEachStepConverges) {
  auto value = [](int round) { return std::to_string(40 + round) + "MB"; };
  crash_after_each(
      {"plan", "pause-ha", "apply", "rollback", "pause-ha-for-switchover", "resume-ha", "done"}, "pk",
      [&](const ServerProcess& server, const Cluster& c, int round) {
        auto r = server.polarctl({"apply", "-f", server.write(c.name + ".yaml",
                                                              with_parameters(c.name, 2, {{"shared_buffers", value(round)}}))});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return c.name + "-updateparameters-g" + std::to_string(generation_of(c));
      },
      [&](const Cluster& c, int round) {
        EXPECT_TRUE(everywhere(c, "shared_buffers", value(round))) << Json(shown(c, "shared_buffers")).dump();
      });
}

}  // namespace
}  // namespace polarstack::testing
