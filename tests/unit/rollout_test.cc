// How spec.parameters roll out (cluster/rollout.h), the planner's UpdateParameters, and
// the engine's parameter catalogue against the installed PostgreSQL.
#include <gtest/gtest.h>

#include <sstream>

#include "api/instance_class.h"
#include "api/parameters.h"
#include "cluster/planner.h"
#include "cluster/rollout.h"
#include "cluster/workflows.h"
#include "core/process.h"

namespace polarstack::cluster {
namespace {

using core::Json;
using Mode = ParameterRollout::Mode;

TEST(ParameterRollout, Table) {
  struct Case {
    std::string name;
    Parameters current, next;
    Mode mode;
    std::vector<std::string> need_restart;
    bool refused = false;
  };
  std::vector<Case> cases = {
      {"nothing", {{"work_mem", "8MB"}}, {{"work_mem", "8MB"}}, Mode::kNothing, {}},
      {"user parameter: reload", {}, {{"work_mem", "8MB"}}, Mode::kReload, {}},
      {"sighup parameter unset: reload", {{"checkpoint_timeout", "10min"}}, {}, Mode::kReload, {}},
      {"superuser parameter: reload", {}, {{"log_min_duration_statement", "250ms"}}, Mode::kReload, {}},
      {"postmaster parameter: replicas first", {}, {{"shared_buffers", "256MB"}}, Mode::kReplicasFirst, {"shared_buffers"}},
      {"shared_buffers down: still replicas first (not ordered)", {{"shared_buffers", "256MB"}}, {{"shared_buffers", "128MB"}},
       Mode::kReplicasFirst, {"shared_buffers"}},
      {"max_connections raised: replicas first", {}, {{"max_connections", "200"}}, Mode::kReplicasFirst, {"max_connections"}},
      {"max_connections lowered: primary first", {}, {{"max_connections", "50"}}, Mode::kPrimaryFirst, {"max_connections"}},
      {"max_connections unset from 200: back to 100 is lowering", {{"max_connections", "200"}}, {}, Mode::kPrimaryFirst,
       {"max_connections"}},
      {"max_wal_senders against polarstack's default 20", {}, {{"max_wal_senders", "10"}}, Mode::kPrimaryFirst,
       {"max_wal_senders"}},
      {"same number spelled otherwise: written, reloaded, no restart", {{"max_connections", "100"}},
       {{"max_connections", "0x64"}}, Mode::kReload, {}},
      {"a postmaster parameter set to its default: no restart", {}, {{"shared_buffers", "128MB"}}, Mode::kReload, {}},
      {"unset from its default value: no restart", {{"shared_buffers", "16384"}}, {}, Mode::kReload, {}},
      {"lowered and raised at once: refused", {}, {{"max_connections", "50"}, {"max_worker_processes", "16"}}, Mode::kNothing,
       {"max_connections", "max_worker_processes"}, true},
      {"lowering with a reload-only change: primary first", {{"work_mem", "4MB"}},
       {{"work_mem", "8MB"}, {"max_locks_per_transaction", "32"}}, Mode::kPrimaryFirst, {"max_locks_per_transaction"}},
      {"extension parameter: reload", {}, {{"pg_stat_statements.track", "all"}}, Mode::kReload, {}},
  };
  for (const auto& c : cases) {
    auto r = plan_parameters(c.current, c.next);
    EXPECT_EQ(r.mode, c.mode) << c.name << ": " << mode_name(r.mode);
    EXPECT_EQ(r.need_restart, c.need_restart) << c.name;
    EXPECT_EQ(!r.refused.empty(), c.refused) << c.name << ": " << r.refused;
  }
}

TEST(ParameterRollout, OrderTable) {
  struct Case {
    Mode mode;
    std::vector<std::string> replicas;
    std::vector<std::string> in_place;
    bool switchover;
  };
  std::vector<Case> cases = {
      {Mode::kNothing, {"c-1"}, {}, false},
      {Mode::kReload, {"c-1", "c-2"}, {"c-0", "c-1", "c-2"}, false},
      {Mode::kReplicasFirst, {"c-1", "c-2"}, {"c-1", "c-2"}, true},
      {Mode::kReplicasFirst, {}, {"c-0"}, false},
      {Mode::kPrimaryFirst, {"c-1", "c-2"}, {"c-0", "c-1", "c-2"}, false},
      {Mode::kPrimaryFirst, {}, {"c-0"}, false},
  };
  for (const auto& c : cases) {
    auto o = rollout_order(c.mode, "c-0", c.replicas);
    EXPECT_EQ(o.in_place, c.in_place) << mode_name(c.mode);
    EXPECT_EQ(o.switchover, c.switchover) << mode_name(c.mode);
  }
}

Json cluster(int64_t generation, Json parameters) {
  return {{"metadata", {{"name", "c"}, {"namespace", "default"}, {"uid", "u1"}, {"generation", generation},
                        {"finalizers", Json::array({kFinalizer})}}},
          {"spec", {{"readers", 1}, {"parameters", parameters}}},
          {"status", {{"observedGeneration", 1}}}};
}
Json op(const std::string& type, int64_t generation, const std::string& phase, Json parameters) {
  Json o = {{"metadata",
             {{"name", "c-" + type + "-g" + std::to_string(generation)},
              {"labels", {{kDerivedLabel, "true"}, {kClusterUidLabel, "u1"}}},
              {"annotations", {{kGenerationAnnotation, std::to_string(generation)}}}}},
            {"spec", {{"type", type}, {"readers", 1}}},
            {"status", {{"phase", phase}}}};
  if (!parameters.is_null()) o["spec"]["parameters"] = parameters;
  return o;
}

TEST(PlannerParameters, Table) {
  Json a = {{"work_mem", "8MB"}}, b = {{"work_mem", "16MB"}}, none = Json::object();
  struct Case {
    std::string name;
    Json cluster;
    std::vector<Json> ops;
    std::string create;
    std::optional<int64_t> observed;
  };
  std::vector<Case> cases = {
      {"create carries the parameters", cluster(1, a), {}, "Create", std::nullopt},
      {"unchanged: observed", cluster(2, a), {op("Create", 1, "Succeeded", a)}, "", 2},
      {"changed: UpdateParameters", cluster(2, b), {op("Create", 1, "Succeeded", a)}, "UpdateParameters", std::nullopt},
      {"changed while creating: waits", cluster(2, b), {op("Create", 1, "Running", a)}, "", std::nullopt},
      {"an update running: nothing new", cluster(2, b), {op("Create", 1, "Succeeded", a), op("UpdateParameters", 2, "Running", b)},
       "", std::nullopt},
      {"update done: observed", cluster(2, b), {op("Create", 1, "Succeeded", a), op("UpdateParameters", 2, "Succeeded", b)},
       "", 2},
      {"update rolled back (Interrupted): not observed, not planned again", cluster(2, b),
       {op("Create", 1, "Succeeded", a), op("UpdateParameters", 2, "Interrupted", b)}, "", std::nullopt},
      {"fixed after a rollback: a new update", cluster(3, a),
       {op("Create", 1, "Succeeded", a), op("UpdateParameters", 2, "Interrupted", b)}, "UpdateParameters", std::nullopt},
      {"a Create of an earlier release (no parameters) and a cluster with some: one no-op update", cluster(2, a),
       {op("Create", 1, "Succeeded", Json())}, "UpdateParameters", std::nullopt},
      {"none anywhere: observed", cluster(2, none), {op("Create", 1, "Succeeded", Json())}, "", 2},
  };
  for (const auto& c : cases) {
    Plan p = plan(c.cluster, c.ops);
    EXPECT_EQ(p.create ? core::string_at(*p.create, "spec.type") : "", c.create) << c.name;
    if (p.create) {
      EXPECT_EQ(core::find_path(*p.create, "spec.parameters") ? *core::find_path(*p.create, "spec.parameters") : Json(),
                *core::find_path(c.cluster, "spec.parameters"))
          << c.name;
    }
    EXPECT_EQ(p.observed_generation, c.observed) << c.name;
    // A rolled-back (Interrupted) update is replaced by the newer one.
    std::vector<std::string> want;
    if (c.name.starts_with("fixed after a rollback")) want = {"c-UpdateParameters-g2"};
    EXPECT_EQ(p.supersede, want) << c.name;
  }
}

// The catalogue kept with the project is the installed engine's: every parameter that
// `postgres --describe-config` lists is in it with the same context, type and range.
TEST(EngineCatalogue, MatchesTheInstalledPostgres) {
  const char* bin = "/usr/lib/postgresql/15/bin/postgres";
  auto r = core::run({bin, "--describe-config"}, std::chrono::seconds(30));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->exit_code, 0) << r->output;
  std::istringstream lines(r->output);
  std::string line;
  int seen = 0;
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    size_t at = 0;
    while (true) {
      size_t tab = line.find('\t', at);
      f.push_back(line.substr(at, tab == std::string::npos ? std::string::npos : tab - at));
      if (tab == std::string::npos) break;
      at = tab + 1;
    }
    if (f.size() < 7) continue;
    ++seen;
    const api::EngineParameter* p = api::engine_parameter(f[0]);
    ASSERT_NE(p, nullptr) << f[0] << " is missing: run scripts/gen-pg-settings.sh";
    std::string type = f[3];
    for (auto& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(std::string(p->vartype), type == "boolean" ? "bool" : type) << f[0];
    EXPECT_EQ(std::string(p->context), f[1]) << f[0];
    if (type == "integer") {
      EXPECT_EQ(std::string(p->min), f[5]) << f[0];
      EXPECT_EQ(std::string(p->max), f[6]) << f[0];
    }
  }
  EXPECT_GT(seen, 300);
  EXPECT_GE(api::engine_parameter_count(), static_cast<size_t>(seen));
}

}  // namespace
}  // namespace polarstack::cluster

namespace polarstack::api {
namespace {

TEST(InstanceClass, QuantitiesClassesAndMemoryParameters) {
  EXPECT_EQ(cpu_millis("500m"), 500);
  EXPECT_EQ(cpu_millis("2"), 2000);
  EXPECT_EQ(cpu_millis("1.5"), 1500);
  EXPECT_EQ(cpu_millis("two"), std::nullopt);
  EXPECT_EQ(memory_bytes("1Gi"), int64_t{1} << 30);
  EXPECT_EQ(memory_bytes("512Mi"), int64_t{512} << 20);
  EXPECT_EQ(memory_bytes("1G"), 1000000000);
  EXPECT_EQ(memory_bytes("100m"), std::nullopt) << "milli-bytes are not memory";

  std::string why;
  auto c = parse_class("cpu=2 memory=4Gi", &why);
  ASSERT_TRUE(c) << why;
  EXPECT_EQ(c->cpu, "2");
  EXPECT_EQ(c->memory, "4Gi");
  EXPECT_FALSE(parse_class("cpu=2", &why));
  EXPECT_NE(why.find("needs both"), std::string::npos) << why;
  EXPECT_FALSE(parse_class("cpu=2 memory=4Gi disk=10Gi", &why));
  EXPECT_NE(why.find("disk=10Gi"), std::string::npos) << why;
  for (const auto& [name, text] : default_classes()) EXPECT_TRUE(parse_class(text, &why)) << name << ": " << why;

  struct Case {
    std::map<std::string, std::string> user;
    std::optional<int64_t> memory;
    std::map<std::string, std::string> want;
  };
  std::vector<Case> cases = {
      {{}, std::nullopt, {}},
      {{{"work_mem", "8MB"}}, std::nullopt, {{"work_mem", "8MB"}}},
      {{}, int64_t{1} << 30,
       {{"shared_buffers", "262144kB"}, {"effective_cache_size", "786432kB"}, {"maintenance_work_mem", "65536kB"},
        {"work_mem", "16384kB"}}},
      {{}, int64_t{64} << 30,
       {{"shared_buffers", "16777216kB"}, {"effective_cache_size", "50331648kB"}, {"maintenance_work_mem", "2097152kB"},
        {"work_mem", "1048576kB"}}},
      {{{"shared_buffers", "128MB"}}, int64_t{256} << 20,
       {{"shared_buffers", "128MB"}, {"effective_cache_size", "196608kB"}, {"maintenance_work_mem", "16384kB"},
        {"work_mem", "4096kB"}}},
  };
  for (const auto& c2 : cases) {
    auto got = effective_parameters(c2.user, c2.memory);
    EXPECT_EQ(got, c2.want) << (c2.memory ? *c2.memory : -1);
    for (const auto& [k, v] : got) EXPECT_EQ(check_parameter(k, v), "") << k << "=" << v;
  }
}

}  // namespace
}  // namespace polarstack::api
