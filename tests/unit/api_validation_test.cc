#include <gtest/gtest.h>

#include "api/cluster.h"
#include "api/crd.h"
#include "api/kinds.h"
#include "api/operation.h"
#include "core/files.h"
#include "core/yaml.h"
#include "support/harness.h"

namespace polarstack::api {
namespace {

Json cluster(const std::string& spec_yaml, const std::string& name = "demo") {
  auto docs = core::parse_yaml_documents("apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: " + name +
                                         "\nspec:\n" + spec_yaml);
  EXPECT_TRUE(docs) << docs.error().message;
  return (*docs)[0];
}

std::vector<std::string> admit_errors(const KindInfo& kind, Json obj) {
  Json before = obj;
  auto st = kind.admit(obj);
  std::vector<std::string> out;
  if (!st) {
    for (const auto& c : st.error().causes) out.push_back(c.str());
    EXPECT_EQ(obj, before) << "a rejected object must not be changed";
  }
  return out;
}

TEST(ClusterValidation, DefaultsFillEveryOmittedField) {
  Json obj = cluster("  readers: 1\n");
  ASSERT_TRUE(find_kind("PolarDBCluster")->admit(obj));
  EXPECT_EQ(obj["spec"]["version"], "15");
  EXPECT_EQ(obj["spec"]["readers"], 1);
  EXPECT_EQ(obj["spec"]["replication"]["mode"], "async");
  EXPECT_EQ(obj["spec"]["ha"]["enabled"], true);
  EXPECT_EQ(obj["spec"]["storage"]["retainOnDelete"], false);
  EXPECT_EQ(obj["spec"]["storage"]["autoGrow"]["thresholdPercent"], 80);
}

// What creation refuses beyond the schema (ClusterSpec/OperationSpec::check_new).
template <class T>
std::vector<std::string> new_errors(const Json& spec) {
  auto decoded = decode<T>(spec, "spec", "spec");
  EXPECT_TRUE(decoded) << decoded.error().describe();
  FieldErrors errs;
  if (decoded) decoded->check_new("spec", errs);
  std::vector<std::string> out;
  for (const auto& e : errs) out.push_back(e.str());
  return out;
}

TEST(ClusterValidation, CreationRefusesFieldsThisReleaseDoesNotActOn) {
  struct Case {
    const char* spec;
    const char* name;
    std::vector<std::string> errors;
  } cases[] = {
      {"  resources: {cpu: \"2\"}\n", "demo", {}},  // acted on since class change (cgroups)
      {"  resources: {memory: 1Gi}\n", "demo", {}},
      {"  storage: {size: 10Gi}\n", "demo",
       {"spec.storage.size: is not implemented in this release (instances use the data root's file system without a "
        "size of their own); leave it unset"}},
      {"  storage: {autoGrow: {enabled: true}}\n", "demo",
       {"spec.storage.autoGrow.enabled: is not implemented in this release (storage does not grow by itself); leave it unset"}},
      {"  standby: {enabled: true}\n", "demo",
       {"spec.standby.enabled: is not implemented in this release (readers are the only replicas; a standby comes with "
        "a later release); leave it unset"}},
      {"  readers: 1\n  storage: {retainOnDelete: true}\n", "demo", {}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(new_errors<ClusterSpec>(cluster(c.spec, c.name)["spec"]), c.errors) << c.spec;
  }
}

TEST(ClusterValidation, BadInputTable) {
  const KindInfo& kind = *find_kind("PolarDBCluster");
  struct Case {
    const char* spec;
    const char* name;
    std::vector<std::string> errors;
  } cases[] = {
      {"  readers: 99\n", "demo", {"spec.readers: must be between 0 and 15, got 99"}},
      {"  readers: -1\n", "demo", {"spec.readers: must be between 0 and 15, got -1"}},
      {"  readers: two\n", "demo", {"spec.readers: must be an integer, got string \"two\""}},
      {"  version: \"14\"\n", "demo", {"spec.version: major version 14 is not supported: this release runs PostgreSQL 15 (15 or 15.<minor>; a major "
        "version upgrade comes with a later release), got \"14\""}},
      {"  readerz: 2\n", "demo", {"spec.readerz: unknown field"}},
      {"  version: \"15.x\"\n", "demo", {"spec.version: must be 15 or 15.<minor> (e.g. 15.20), got \"15.x\""}},
      {"  version: \"15.20\"\n", "demo", {}},
      {"  replication: {mode: semi}\n", "demo", {"spec.replication.mode: must be one of \"async\", \"sync\", got \"semi\""}},
      {"  readers: 1\n  replication: {mode: sync, syncReplicas: 2}\n", "demo",
       {"spec.replication.syncReplicas: must not exceed the number of replicas (spec.readers plus standby: 1) in sync "
        "mode, got 2"}},
      {"  resources: {class: polar.pg.x2.medium, memory: 4Gi}\n", "demo",
       {"spec.resources.class: cannot be set together with spec.resources.cpu or spec.resources.memory (a class names both)"}},
      {"  resources: {memory: 128Mi}\n", "demo",
       {"spec.resources.memory: must be at least 256Mi (PostgreSQL with its memory parameters sized from it), got 128Mi"}},
      {"  resources: {cpu: 50m}\n", "demo", {"spec.resources.cpu: must be at least 100m, got 50m"}},
      {"  resources: {class: Big_One}\n", "demo",
       {"spec.resources.class: must be a ConfigMap key such as polar.pg.x2.medium (lowercase letters, digits, '-' and "
        "'.'), got \"Big_One\""}},
      {"  resources: {memory: lots}\n", "demo",
       {"spec.resources.memory: must be a quantity such as 500m, 2, 512Mi or 10Gi, got \"lots\""}},
      {"  parameters: {port: \"5433\"}\n", "demo",
       {"spec.parameters[port]: is managed by polarstack and cannot be set (the port is allocated by polarstack)"}},
      // Checked against PostgreSQL 15's own catalogue (pg_settings), with its words.
      {"  parameters: {work_mem: \"64XB\"}\n", "demo",
       {"spec.parameters[work_mem]: invalid value for parameter \"work_mem\": \"64XB\" (valid units for this parameter "
        "are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\")"}},
      {"  parameters: {work_mem: \"32kB\"}\n", "demo",
       {"spec.parameters[work_mem]: 32 kB is outside the valid range for parameter \"work_mem\" (64 .. 2147483647)"}},
      {"  parameters: {shared_buffers: \"64\"}\n", "demo", {}},
      {"  parameters: {shared_buffers: \"1MB\"}\n", "demo", {}},
      {"  parameters: {shared_buffers: \"100kB\"}\n", "demo",
       {"spec.parameters[shared_buffers]: 12 8kB is outside the valid range for parameter \"shared_buffers\" (16 .. 1073741823)"}},
      {"  parameters: {statement_timeout: \"5 parsecs\"}\n", "demo",
       {"spec.parameters[statement_timeout]: invalid value for parameter \"statement_timeout\": \"5 parsecs\" (valid units "
        "for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\")"}},
      {"  parameters: {max_connections: \"100MB\"}\n", "demo",
       {"spec.parameters[max_connections]: invalid value for parameter \"max_connections\": \"100MB\" (this parameter takes no unit)"}},
      {"  parameters: {max_connections: \"0\"}\n", "demo",
       {"spec.parameters[max_connections]: 0 is outside the valid range for parameter \"max_connections\" (1 .. 262143)"}},
      {"  parameters: {checkpoint_completion_target: \"1.5\"}\n", "demo",
       {"spec.parameters[checkpoint_completion_target]: 1.5 is outside the valid range for parameter "
        "\"checkpoint_completion_target\" (0 .. 1)"}},
      {"  parameters: {jit: \"maybe\"}\n", "demo", {"spec.parameters[jit]: parameter \"jit\" requires a Boolean value, got \"maybe\""}},
      {"  parameters: {jit: \"of\", fsync: \"ON\", log_checkpoints: \"t\"}\n", "demo", {}},
      {"  parameters: {default_transaction_isolation: \"chaos\"}\n", "demo",
       {"spec.parameters[default_transaction_isolation]: invalid value for parameter \"default_transaction_isolation\": "
        "\"chaos\" (available values: serializable, repeatable read, read committed, read uncommitted)"}},
      {"  parameters: {default_transaction_isolation: \"Read Committed\", DateStyle: \"ISO, DMY\"}\n", "demo", {}},
      {"  parameters: {shared_bufers: \"1GB\"}\n", "demo",
       {"spec.parameters[shared_bufers]: unrecognized configuration parameter \"shared_bufers\" (PostgreSQL 15 has no such parameter)"}},
      {"  parameters: {block_size: \"16384\"}\n", "demo",
       {"spec.parameters[block_size]: parameter \"block_size\" cannot be changed (it is fixed when PostgreSQL is built or initialized)"}},
      {"  parameters: {archive_command: \"cp %p /tmp\"}\n", "demo",
       {"spec.parameters[archive_command]: is managed by polarstack and cannot be set (WAL archiving comes with backups in a later release)"}},
      {"  parameters: {pg_stat_statements.max: \"10000\"}\n", "demo", {}},
      {"  readers: 3\n  parameters: {max_wal_senders: \"4\"}\n", "demo",
       {"spec.parameters[max_wal_senders]: must be at least spec.readers + 2 (5): every replica streams through one and a "
        "clone or rewind needs another, got 4"}},
      {"  readers: 3\n  parameters: {max_wal_senders: \"5\", work_mem: \"0x100\"}\n", "demo", {}},
      {"  parameters: {max_connections: 200}\n", "demo",
       {"spec.parameters[max_connections]: must be a string, got number 200"}},
      {"  ha: {probeIntervalMs: 10}\n", "demo", {"spec.ha.probeIntervalMs: must be between 50 and 10000, got 10"}},
      {"  ha: {leaseMs: 500}\n", "demo", {"spec.ha.leaseMs: must be between 1000 and 60000, got 500"}},
      {"  ha: {probeIntervalMs: 2000}\n", "demo", {"spec.ha.leaseMs: must be at least 3 x spec.ha.probeIntervalMs (6000), got 3000"}},
      {"  parameters: {wal_receiver_timeout: \"60s\"}\n", "demo",
       {"spec.parameters[wal_receiver_timeout]: is managed by polarstack and cannot be set (a primary's lease is renewed "
        "by its replicas' replies)"}},
      {"  readers: 1\n", "Demo_1",
       {"metadata.name: must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter "
        "or digit), got \"Demo_1\""}},
      {"  readers: 1\n", "a-very-long-cluster-name-that-exceeds-forty-chars",
       {"metadata.name: must be no more than 40 characters (instance names are derived from it), got 49"}},
      {"  readers: 99\n  version: \"9\"\n  foo: 1\n", "demo",
       {"spec.foo: unknown field", "spec.version: major version 9 is not supported: this release runs PostgreSQL 15 (15 or 15.<minor>; a major "
        "version upgrade comes with a later release), got \"9\"",
        "spec.readers: must be between 0 and 15, got 99"}},
  };
  for (const auto& c : cases) {
    auto got = admit_errors(kind, cluster(c.spec, c.name));
    std::sort(got.begin(), got.end());
    std::vector<std::string> want = c.errors;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << "spec:\n" << c.spec;
  }
}

TEST(ClusterValidation, TopLevelProblems) {
  const KindInfo& kind = *find_kind("PolarDBCluster");
  Json no_spec = {{"apiVersion", "polarstack.io/v1"}, {"kind", "PolarDBCluster"}, {"metadata", {{"name", "x"}}}};
  EXPECT_EQ(admit_errors(kind, no_spec), std::vector<std::string>{"spec: required value"});
  Json extra = cluster("  readers: 1\n");
  extra["specs"] = Json::object();
  EXPECT_EQ(admit_errors(kind, extra), std::vector<std::string>{"specs: unknown field"});
  Json bad_status = cluster("  readers: 1\n");
  bad_status["status"] = {{"phase", "Exploded"}};
  auto errs = admit_errors(kind, bad_status);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].find("status.phase: must be one of"), std::string::npos) << errs[0];
}

TEST(OperationValidation, BadInputTable) {
  const KindInfo& kind = *find_kind("PolarDBOperation");
  auto op = [](Json spec) {
    return Json{{"apiVersion", "polarstack.io/v1"}, {"kind", "PolarDBOperation"}, {"metadata", {{"name", "op1"}}},
                {"spec", std::move(spec)}};
  };
  struct Case {
    Json spec;
    std::vector<std::string> errors;
  } cases[] = {
      {{{"type", "Switchover"}}, {"spec.clusterRef: required value"}},
      {{{"clusterRef", "demo"}, {"type", "Explode"}},
       {"spec.type: must be one of \"Create\", \"Delete\", \"ScaleReaders\", \"Switchover\", \"RestartInstance\", "
        "\"RestartCluster\", \"UpdateParameters\", \"UpgradeMinorVersion\", \"ChangeClass\", \"RebuildInstance\", \"MigrateInstance\", got \"Explode\""}},
      {{{"clusterRef", "demo"}, {"type", "RestartInstance"}}, {"spec.instance: required value for type RestartInstance"}},
      {{{"clusterRef", "demo"}, {"type", "RestartInstance"}, {"instance", "demo-1"}, {"method", "Gently"}},
       {"spec.method: must be one of \"\", \"Switchover\", \"InPlace\", got \"Gently\""}},
      {{{"clusterRef", "demo"}, {"type", "ScaleReaders"}}, {"spec.readers: required value for type ScaleReaders"}},
      {{{"clusterRef", "demo"}, {"type", "Switchover"}, {"resume", true}, {"cancel", true}},
       {"spec.cancel: cannot be set together with spec.resume"}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(admit_errors(kind, op(c.spec)), c.errors) << c.spec.dump();
  }
  Json ok = op({{"clusterRef", "demo"}, {"type", "Switchover"}, {"target", "demo-2"}});
  EXPECT_TRUE(kind.admit(ok));
  Json restart = op({{"clusterRef", "demo"}, {"type", "RestartInstance"}, {"instance", "demo-0"}, {"method", "InPlace"}});
  EXPECT_TRUE(kind.admit(restart));
}

TEST(OperationValidation, CreationRefusesUnimplementedTypesAndFieldsTheTypeDoesNotUse) {
  struct Case {
    Json spec;
    std::vector<std::string> errors;
  } cases[] = {
      {{{"clusterRef", "demo"}, {"type", "MigrateInstance"}, {"instance", "demo-1"}},
       {"spec.type: MigrateInstance is not implemented in this release (implemented: Create, Delete, ScaleReaders, "
        "Switchover, RestartInstance, RestartCluster, UpdateParameters, UpgradeMinorVersion, ChangeClass)"}},
      {{{"clusterRef", "demo"}, {"type", "RebuildInstance"}, {"instance", "demo-1"}},
       {"spec.type: RebuildInstance is not implemented in this release (implemented: Create, Delete, ScaleReaders, "
        "Switchover, RestartInstance, RestartCluster, UpdateParameters, UpgradeMinorVersion, ChangeClass)"}},
      {{{"clusterRef", "demo"}, {"type", "Switchover"}, {"method", "InPlace"}},
       {"spec.method: applies only to type RestartInstance, not Switchover"}},
      {{{"clusterRef", "demo"}, {"type", "RestartCluster"}, {"instance", "demo-1"}},
       {"spec.instance: applies only to type RestartInstance, RebuildInstance, MigrateInstance, not RestartCluster"}},
      {{{"clusterRef", "demo"}, {"type", "RestartInstance"}, {"instance", "demo-1"}, {"target", "demo-2"}},
       {"spec.target: applies only to type Switchover, not RestartInstance"}},
      {{{"clusterRef", "demo"}, {"type", "Switchover"}, {"readers", 2}},
       {"spec.readers: applies only to type ScaleReaders, Create, not Switchover"}},
      {{{"clusterRef", "demo"}, {"type", "Delete"}, {"node", "local-2"}},
       {"spec.node: applies only to type MigrateInstance, not Delete"}},
      {{{"clusterRef", "demo"}, {"type", "RestartInstance"}, {"instance", "demo-1"}, {"method", "InPlace"}}, {}},
      {{{"clusterRef", "demo"}, {"type", "Create"}, {"readers", 2}}, {}},
      {{{"clusterRef", "demo"}, {"type", "Switchover"}, {"parameters", {{"work_mem", "8MB"}}}},
       {"spec.parameters: applies only to type Create, UpdateParameters, UpgradeMinorVersion, ChangeClass, not Switchover"}},
      {{{"clusterRef", "demo"}, {"type", "UpdateParameters"}, {"parameters", {{"work_mem", "8MB"}}}}, {}},
      {{{"clusterRef", "demo"}, {"type", "RestartCluster"}, {"version", "15.20"}},
       {"spec.version: applies only to type Create, UpdateParameters, UpgradeMinorVersion, ChangeClass, not RestartCluster"}},
  };
  for (const auto& c : cases) EXPECT_EQ(new_errors<OperationSpec>(c.spec), c.errors) << c.spec.dump();
  // With the server's test-only workflows (POLARSTACK_TEST_WORKFLOWS=1) every type is accepted.
  Json rebuild = {{"clusterRef", "demo"}, {"type", "RebuildInstance"}, {"instance", "demo-1"}};
  accept_unimplemented_operation_types(true);
  EXPECT_EQ(new_errors<OperationSpec>(rebuild), std::vector<std::string>{});
  accept_unimplemented_operation_types(false);
  EXPECT_EQ(new_errors<OperationSpec>(rebuild).size(), 1u);
}

TEST(ClusterCodec, JsonAndYamlRoundTrip) {
  auto spec = decode<ClusterSpec>(cluster("  readers: 3\n  parameters: {work_mem: 64MB}\n")["spec"], "spec", "x");
  ASSERT_TRUE(spec);
  Json j = encode(*spec);
  auto again = decode<ClusterSpec>(j, "spec", "x");
  ASSERT_TRUE(again);
  EXPECT_EQ(encode(*again), j);
  auto from_yaml = core::parse_yaml_documents(core::to_yaml(j));
  ASSERT_TRUE(from_yaml);
  EXPECT_EQ((*from_yaml)[0], j);
  EXPECT_EQ(again->readers, 3);
  EXPECT_EQ(again->parameters.at("work_mem"), "64MB");
}

TEST(Schema, DefaultsAndBoundsComeFromTheSameDefinitions) {
  OrderedJson s = find_kind("PolarDBCluster")->schema();
  const auto& readers = s["properties"]["spec"]["properties"]["readers"];
  EXPECT_EQ(readers["type"], "integer");
  EXPECT_EQ(readers["minimum"], 0);
  EXPECT_EQ(readers["maximum"], 15);
  EXPECT_EQ(readers["default"], ClusterSpec{}.readers);
  EXPECT_EQ(s["properties"]["spec"]["properties"]["replication"]["properties"]["mode"]["enum"],
            OrderedJson({"async", "sync"}));
  EXPECT_EQ(s["properties"]["spec"]["properties"]["parameters"]["additionalProperties"]["type"], "string");
}

TEST(Crds, CheckedInCrdsMatchTheGeneratedOnes) {
  auto checked_in = core::read_file(testing::source_dir() + "/deploy/crds/polarstack.yaml");
  ASSERT_TRUE(checked_in) << "deploy/crds/polarstack.yaml is missing";
  EXPECT_EQ(*checked_in, crds_yaml())
      << "deploy/crds/polarstack.yaml is stale: regenerate it with build/bin/polarstack crds > deploy/crds/polarstack.yaml";
}

}  // namespace
}  // namespace polarstack::api
