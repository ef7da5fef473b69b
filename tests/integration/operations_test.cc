// PolarDBOperations run by the operator inside a real server: queueing, progress in the
// cluster's status, interrupt and resume, cancel with compensation, history, recovery
// after kill -9, and bad requests rejected without changing anything. The server runs
// with POLARSTACK_TEST_WORKFLOWS=1 (test-only workflows whose steps hold for a while).
#include <gtest/gtest.h>

#include "support/harness.h"

namespace polarstack {
namespace {

using core::Json;
using namespace std::chrono_literals;

const kube::ResourceRef& ops() { return kube::operations_ref(); }

Json op(const std::string& name, const std::string& type, Json extra = Json::object()) {
  Json spec = {{"clusterRef", "demo"}, {"type", type}};
  for (auto it = extra.begin(); it != extra.end(); ++it) spec[it.key()] = it.value();
  return {{"apiVersion", "polarstack.io/v1"}, {"kind", "PolarDBOperation"}, {"metadata", {{"name", name}}}, {"spec", spec}};
}

class OperationsTest : public ::testing::Test {
 protected:
  void start(std::map<std::string, std::string> env = {{"POLARSTACK_TEST_WORKFLOWS", "1"}},
             std::vector<std::string> args = {}) {
    server_ = std::make_unique<testing::ServerProcess>("", env, args);
    client_ = server_->client();
    ASSERT_TRUE(client_->create(kube::clusters_ref(), "default",
                                {{"metadata", {{"name", "demo"}}}, {"spec", {{"readers", 1}}}}));
  }
  Json get_op(const std::string& name) {
    auto o = client_->get(ops(), "default", name);
    return o ? *o : Json();
  }
  std::string phase(const std::string& name) { return core::string_at(get_op(name), "status.phase"); }
  bool wait_phase(const std::string& name, const std::string& want, std::chrono::seconds t = 20s) {
    return testing::wait_until([&] { return phase(name) == want; }, t);
  }
  Json cluster() { return *client_->get(kube::clusters_ref(), "default", "demo"); }
  Json condition(const std::string& type) {
    Json c = cluster();
    const Json* conds = core::find_path(c, "status.conditions");
    if (conds) {
      for (const auto& cond : *conds) {
        if (cond.value("type", "") == type) return cond;
      }
    }
    return Json::object();
  }
  testing::RunResult ctl(std::vector<std::string> args) { return server_->polarctl(args); }
  std::unique_ptr<testing::ServerProcess> server_;
  std::unique_ptr<kube::Client> client_;
};

TEST_F(OperationsTest, OneAtATimePerClusterInCreationOrderWithProgressInTheClusterStatus) {
  start();
  ASSERT_TRUE(client_->create(ops(), "default", op("first", "RestartCluster")));
  ASSERT_TRUE(wait_phase("first", "Waiting") || phase("first") == "Running");
  ASSERT_TRUE(client_->create(ops(), "default", op("second", "RestartCluster")));
  ASSERT_TRUE(testing::wait_until([&] { return core::string_at(get_op("second"), "status.reason") == "Queued"; }, 10s));
  EXPECT_EQ(phase("second"), "Pending");
  EXPECT_NE(core::string_at(get_op("second"), "status.message").find("waiting for first"), std::string::npos);
  ASSERT_TRUE(testing::wait_until([&] { return core::string_at(cluster(), "status.operation.name") == "first"; }, 10s));
  EXPECT_EQ(cluster()["status"]["operation"]["stepsTotal"], 3);
  EXPECT_EQ(cluster()["status"]["operation"]["type"], "RestartCluster");
  auto listing = ctl({"ops", "demo"});
  EXPECT_EQ(listing.exit_code, 0) << listing.err;
  EXPECT_NE(listing.out.find("PROGRESS"), std::string::npos);
  EXPECT_NE(listing.out.find("Queued"), std::string::npos) << listing.out;

  ASSERT_TRUE(wait_phase("first", "Succeeded"));
  ASSERT_TRUE(wait_phase("second", "Succeeded"));
  Json a = get_op("first"), b = get_op("second");
  EXPECT_GE(core::string_at(b, "status.startedAt"), core::string_at(a, "status.finishedAt"))
      << "the second operation may start only after the first finished";
  EXPECT_EQ(core::string_at(a, "status.progress"), "3/3");
  for (const auto& s : a["status"]["steps"]) EXPECT_EQ(s["state"], "Done");
  ASSERT_TRUE(testing::wait_until([&] { return core::string_at(cluster(), "status.operation.name").empty(); }, 10s))
      << "the cluster shows no operation once all are done";

  auto described = ctl({"describe", "op", "first"});
  EXPECT_EQ(described.exit_code, 0) << described.err;
  EXPECT_NE(described.out.find("Steps:"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("hold-2"), std::string::npos);
  EXPECT_NE(described.out.find("OperationSucceeded"), std::string::npos) << "events are recorded: " << described.out;
}

TEST_F(OperationsTest, ExhaustedRetriesInterruptTheClusterAndResumeFinishesIt) {
  start({{"POLARSTACK_TEST_WORKFLOWS", "1"}, {"POLARSTACK_FAILPOINTS", "before:hold-2=fail(2)"}});
  ASSERT_TRUE(client_->create(ops(), "default", op("restart", "RestartCluster")));
  ASSERT_TRUE(wait_phase("restart", "Interrupted"));
  Json o = get_op("restart");
  EXPECT_EQ(core::string_at(o, "status.reason"), "RetryBudgetExhausted");
  EXPECT_NE(core::string_at(o, "status.message").find("failpoint before:hold-2"), std::string::npos);
  EXPECT_EQ(o["status"]["steps"][1]["state"], "Failed");
  EXPECT_EQ(o["status"]["steps"][1]["attempts"], 2);
  ASSERT_TRUE(testing::wait_until([&] { return condition("Interrupted").value("status", "") == "True"; }, 10s));
  EXPECT_EQ(condition("Interrupted")["reason"], "RetryBudgetExhausted");

  auto r = ctl({"resume", "restart"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(wait_phase("restart", "Succeeded"));
  ASSERT_TRUE(testing::wait_until([&] { return condition("Interrupted").value("status", "") == "False"; }, 10s));
  EXPECT_EQ(get_op("restart")["spec"]["resume"], false) << "the request is consumed";
}

TEST_F(OperationsTest, CancelRunsCompensationAndUnblocksTheQueue) {
  start();
  Json c = cluster();
  c["status"] = {{"phase", "Running"}, {"instances", {{{"name", "demo-0"}, {"role", "primary"}}, {{"name", "demo-1"}, {"role", "replica"}}}}};
  ASSERT_TRUE(client_->update_status(kube::clusters_ref(), "default", c));
  ASSERT_TRUE(client_->create(ops(), "default", op("rebuild", "RebuildInstance", {{"instance", "demo-1"}})));
  ASSERT_TRUE(client_->create(ops(), "default", op("after", "RestartCluster")));
  ASSERT_TRUE(testing::wait_until([&] { return core::string_at(get_op("rebuild"), "status.progress") == "1/2 copy-data"; }, 10s));
  auto r = ctl({"cancel", "rebuild"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(wait_phase("rebuild", "Cancelled"));
  Json o = get_op("rebuild");
  EXPECT_EQ(o["status"]["steps"][1]["state"], "Skipped");
  EXPECT_EQ(o["status"]["compensation"][0]["state"], "Done");
  ASSERT_TRUE(wait_phase("after", "Succeeded")) << "the queue moves on after a cancel";
}

TEST_F(OperationsTest, BadRequestsAreRejectedAndChangeNothing) {
  start();
  ASSERT_TRUE(client_->create(ops(), "default", op("running", "RebuildInstance", {{"instance", "x"}})).has_value() == false);
  Json c = cluster();
  c["status"] = {{"instances", {{{"name", "demo-0"}}}}};
  ASSERT_TRUE(client_->update_status(kube::clusters_ref(), "default", c));
  ASSERT_TRUE(client_->create(ops(), "default", op("running", "RebuildInstance", {{"instance", "demo-0"}})));
  ASSERT_TRUE(testing::wait_until([&] { return core::string_at(get_op("running"), "status.progress") == "1/2 copy-data"; }, 10s));
  struct Case {
    std::function<core::Result<Json>()> call;
    std::string field;
    std::string text;
  } cases[] = {
      {[&] { Json o = op("x1", "RestartCluster"); o["spec"]["clusterRef"] = "nope"; return client_->create(ops(), "default", o); },
       "spec.clusterRef", "PolarDBCluster \"nope\" not found in namespace default"},
      {[&] { return client_->create(ops(), "default", op("x2", "Explode")); }, "spec.type", "must be one of"},
      {[&] { return client_->create(ops(), "default", op("x3", "RestartInstance", {{"instance", "demo-9"}})); },
       "spec.instance", "has no instance \"demo-9\" (instances: demo-0)"},
      {[&] { return client_->patch(ops(), "default", "running", {{"spec", {{"resume", true}}}}); }, "spec.resume",
       // its waiting step is looked at again every 100 ms: Waiting or, for that moment, Running
       "only an Interrupted or Failed operation can be resumed; running is "},
      {[&] { return client_->patch(ops(), "default", "running", {{"spec", {{"clusterRef", "other"}}}}); },
       "spec.clusterRef", "is immutable"},
  };
  Json before = get_op("running");
  for (auto& c2 : cases) {
    auto r = c2.call();
    ASSERT_FALSE(r) << c2.field;
    EXPECT_EQ(r.error().code, core::Code::kInvalid);
    ASSERT_EQ(r.error().causes.size(), 1u) << r.error().describe();
    EXPECT_EQ(r.error().causes[0].field, c2.field);
    EXPECT_NE(r.error().causes[0].message.find(c2.text), std::string::npos) << r.error().causes[0].message;
  }
  auto listed = client_->list(ops(), "default");
  EXPECT_EQ((*listed)["items"].size(), 1u) << "no rejected operation was stored";
  EXPECT_EQ(get_op("running")["spec"], before["spec"]);
  auto cli = ctl({"resume", "running"});
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_NE(cli.err.find("spec.resume: only an Interrupted or Failed operation can be resumed"), std::string::npos) << cli.err;
}

TEST_F(OperationsTest, KeepsTheLastNFinishedOperationsPerCluster) {
  start({{"POLARSTACK_TEST_WORKFLOWS", "1"}}, {"--operation-history", "2"});
  for (const char* n : {"op-1", "op-2", "op-3", "op-4"}) ASSERT_TRUE(client_->create(ops(), "default", op(n, "RestartCluster")));
  ASSERT_TRUE(wait_phase("op-4", "Succeeded", 30s));
  ASSERT_TRUE(testing::wait_until([&] { return (*client_->list(ops(), "default"))["items"].size() == 2; }, 10s));
  EXPECT_TRUE(get_op("op-1").is_null());
  EXPECT_TRUE(get_op("op-2").is_null());
  EXPECT_EQ(phase("op-3"), "Succeeded");
}

TEST_F(OperationsTest, AKilledServerResumesTheOperationWhereItStopped) {
  start();
  ASSERT_TRUE(client_->create(ops(), "default", op("restart", "RestartCluster")));
  ASSERT_TRUE(testing::wait_until([&] { return core::string_at(get_op("restart"), "status.progress") == "1/3 hold-2"; }, 10s));
  Json mid = get_op("restart");
  server_->kill9();
  client_.reset();
  ASSERT_TRUE(server_->start());
  client_ = server_->client();
  ASSERT_TRUE(wait_phase("restart", "Succeeded"));
  Json done = get_op("restart");
  EXPECT_EQ(done["status"]["steps"][0]["finishedAt"], mid["status"]["steps"][0]["finishedAt"])
      << "a finished step is not run again after the restart";
  EXPECT_EQ(core::string_at(done, "status.progress"), "3/3");
}

// A type this release has no workflow for is refused at admission, naming spec.type and
// what is implemented; nothing is stored. (The test workflows accept every type.)
TEST_F(OperationsTest, ATypeWithoutAWorkflowIsRefusedAndNotStored) {
  start({});
  for (const char* type : {"RebuildInstance", "MigrateInstance"}) {
    SCOPED_TRACE(type);
    Json o = op("unimplemented", type, {{"instance", "demo-1"}});
    if (std::string(type) == "MigrateInstance") o["spec"]["node"] = "local-2";
    auto r = client_->create(ops(), "default", o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, core::Code::kInvalid) << r.error().describe();
    EXPECT_NE(r.error().describe().find(std::string("spec.type: ") + type + " is not implemented in this release"),
              std::string::npos) << r.error().describe();
    EXPECT_TRUE(get_op("unimplemented").is_null());
  }
}

// A Failed operation holds its cluster's queue until a person resumes or cancels it.
TEST_F(OperationsTest, AFailedOperationHoldsTheQueueUntilCancelled) {
  start({{"POLARSTACK_TEST_WORKFLOWS", "1"}, {"POLARSTACK_FAILPOINTS", "before:copy-data=fail(5)"}});
  Json c = cluster();
  c["status"] = {{"phase", "Running"}, {"instances", {{{"name", "demo-0"}, {"role", "primary"}}, {{"name", "demo-1"}, {"role", "replica"}}}}};
  ASSERT_TRUE(client_->update_status(kube::clusters_ref(), "default", c));
  ASSERT_TRUE(client_->create(ops(), "default", op("rebuild", "RebuildInstance", {{"instance", "demo-1"}})));
  ASSERT_TRUE(wait_phase("rebuild", "Interrupted", 60s)) << get_op("rebuild").dump(1);  // 5 attempts, backing off
  ASSERT_TRUE(testing::wait_until([&] { return condition("Interrupted").value("status", "") == "True"; }, 10s));
  ASSERT_TRUE(client_->create(ops(), "default", op("next", "RestartCluster")));
  ASSERT_TRUE(testing::wait_until([&] { return core::string_at(get_op("next"), "status.reason") == "Queued"; }, 10s))
      << "a stopped operation holds the queue until a person decides";
  ASSERT_EQ(ctl({"cancel", "rebuild"}).exit_code, 0);
  ASSERT_TRUE(wait_phase("rebuild", "Cancelled"));
  ASSERT_TRUE(wait_phase("next", "Succeeded"));
}

}  // namespace
}  // namespace polarstack
