// The operation controller's decisions with a fake API port and instant steps:
// queueing per cluster in creation order, clusters independent, requests, history.
#include <gtest/gtest.h>

#include "cluster/operation_controller.h"

namespace polarstack::cluster {
namespace {

using core::Json;

class FakeApi : public ClusterApi {
 public:
  std::map<std::string, Json> clusters, ops;
  std::vector<std::string> events;
  core::Result<Json> get_config_map(const std::string&, const std::string&) override {
    return core::fail(core::Code::kNotFound, "no config maps here");
  }
  core::Result<Json> get_cluster(const std::string&, const std::string& name) override {
    if (!clusters.count(name)) return core::fail(core::Code::kNotFound, "not found");
    return clusters[name];
  }
  core::Status patch_cluster(const std::string&, const std::string& name, const Json& patch) override {
    clusters[name].merge_patch(patch);
    return {};
  }
  core::Status ensure_secret(const std::string&, const std::string&, const std::map<std::string, std::string>&) override {
    return {};
  }
  core::Status delete_secret(const std::string&, const std::string&) override { return {}; }
  core::Status create_operation(const std::string&, const Json& object) override {
    std::string name = core::string_at(object, "metadata.name");
    if (ops.count(name)) return core::fail(core::Code::kAlreadyExists, "exists");
    ops[name] = object;
    return {};
  }
  core::Status patch_cluster_status(const std::string&, const std::string& name, const Json& patch) override {
    Json p = patch;
    p.erase("metadata");
    clusters[name].merge_patch(p);
    return {};
  }
  core::Result<Json> write_operation_status(const std::string&, const std::string& name, const Json& status) override {
    if (!ops.count(name)) return core::fail(core::Code::kNotFound, "gone");
    ops[name]["status"] = status;
    return ops[name];
  }
  core::Result<Json> patch_operation(const std::string&, const std::string& name, const Json& patch) override {
    ops[name].merge_patch(patch);
    ops[name]["metadata"]["generation"] = ops[name]["metadata"]["generation"].get<int>() + 1;
    return ops[name];
  }
  core::Status delete_operation(const std::string&, const std::string& name) override {
    ops.erase(name);
    return {};
  }
  void record_event(const Json& o, const std::string&, const std::string& reason, const std::string&) override {
    events.push_back(core::string_at(o, "metadata.name") + ":" + reason);
  }
  void add_op(const std::string& name, const std::string& cluster, const std::string& created) {
    ops[name] = {{"metadata", {{"name", name}, {"namespace", "default"}, {"generation", 1}, {"creationTimestamp", created}}},
                 {"spec", {{"clusterRef", cluster}, {"type", "Work"}}}};
  }
  std::vector<Json> list() const {
    std::vector<Json> out;
    for (const auto& [k, v] : ops) out.push_back(v);
    return out;
  }
  std::string phase(const std::string& name) { return core::string_at(ops[name], "status.phase"); }
};

class FakeClock : public workflow::Clock {
 public:
  workflow::TimePoint now() const override { return t_; }
  void advance(std::chrono::milliseconds d) { t_ += d; }

 private:
  workflow::TimePoint t_ = std::chrono::system_clock::from_time_t(1800000000);
};

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest() : store_(api_), engine_(store_, clock_, 1), controller_(api_, engine_, store_, {2}) {
    api_.clusters["demo"] = {{"metadata", {{"name", "demo"}, {"resourceVersion", "1"}}}, {"status", Json::object()}};
    api_.clusters["other"] = {{"metadata", {{"name", "other"}, {"resourceVersion", "1"}}}, {"status", Json::object()}};
    engine_.define({"Work", {{"one", [this](const workflow::StepInput&) { return gate_ ? workflow::StepResult::done() : workflow::StepResult::wait("gate", std::chrono::hours(1)); }},
                             {"two", [](const workflow::StepInput&) { return workflow::StepResult::done(); }}},
                    2});
  }
  FakeApi api_;
  OperationStore store_;
  FakeClock clock_;
  workflow::Engine engine_;
  OperationController controller_;
  bool gate_ = false;
};

TEST_F(ControllerTest, OnePerClusterInCreationOrderAndClustersAreIndependent) {
  api_.add_op("b-second", "demo", "2026-11-21T07:00:00.000002Z");
  api_.add_op("a-third", "demo", "2026-11-21T07:00:00.000003Z");
  api_.add_op("z-first", "demo", "2026-11-21T07:00:00.000001Z");
  api_.add_op("elsewhere", "other", "2026-11-21T07:00:00.000009Z");
  controller_.reconcile(api_.list());
  EXPECT_EQ(api_.phase("z-first"), "Waiting");
  EXPECT_EQ(api_.phase("elsewhere"), "Waiting") << "another cluster's operation runs at the same time";
  EXPECT_EQ(api_.phase("b-second"), "Pending");
  EXPECT_EQ(core::string_at(api_.ops["b-second"], "status.reason"), "Queued");
  EXPECT_EQ(core::string_at(api_.ops["a-third"], "status.message"), "waiting for z-first (Work) to finish");
  EXPECT_EQ(core::string_at(api_.clusters["demo"], "status.operation.name"), "z-first");
  EXPECT_EQ(api_.clusters["demo"]["status"]["operation"]["stepsTotal"], 2);

  gate_ = true;
  for (int pass = 0; pass < 4; ++pass) {
    clock_.advance(std::chrono::hours(2));  // the waits are due
    controller_.reconcile(api_.list());
  }
  EXPECT_EQ(api_.phase("b-second"), "Succeeded");
  EXPECT_EQ(api_.phase("a-third"), "Succeeded");
  EXPECT_EQ(api_.ops.count("z-first"), 0u) << "history keeps 2 finished operations: the oldest was deleted";
  auto at = [&](const std::string& e) { return std::find(api_.events.begin(), api_.events.end(), e) - api_.events.begin(); };
  EXPECT_LT(at("z-first:OperationSucceeded"), at("b-second:OperationStarted"));
  EXPECT_LT(at("b-second:OperationSucceeded"), at("a-third:OperationStarted"));
  EXPECT_LT(at("a-third:OperationSucceeded"), static_cast<long>(api_.events.size()));
}

TEST_F(ControllerTest, HistoryKeepsTheNewestFinished) {
  gate_ = true;
  for (int i = 1; i <= 4; ++i) api_.add_op("op-" + std::to_string(i), "demo", "2026-11-21T07:00:0" + std::to_string(i) + "Z");
  for (int pass = 0; pass < 6; ++pass) {
    clock_.advance(std::chrono::seconds(1));
    controller_.reconcile(api_.list());
  }
  EXPECT_EQ(api_.ops.size(), 2u);
  EXPECT_TRUE(api_.ops.count("op-3") && api_.ops.count("op-4"));
}

// An operation deleted and created again under the same name between two passes (a
// cluster deleted and applied again) is a new run, not the finished one of that name.
TEST_F(ControllerTest, AnOperationCreatedAgainUnderTheSameNameRunsAgain) {
  gate_ = true;
  api_.add_op("demo-create-g1", "demo", "2026-11-21T07:00:01Z");
  api_.ops["demo-create-g1"]["metadata"]["uid"] = "first";
  for (int pass = 0; pass < 3; ++pass) {
    clock_.advance(std::chrono::seconds(1));
    controller_.reconcile(api_.list());
  }
  ASSERT_EQ(api_.phase("demo-create-g1"), "Succeeded");
  gate_ = false;
  api_.add_op("demo-create-g1", "demo", "2026-11-21T08:00:01Z");  // replaced: no status, a new uid
  api_.ops["demo-create-g1"]["metadata"]["uid"] = "second";
  controller_.reconcile(api_.list());
  EXPECT_EQ(api_.phase("demo-create-g1"), "Waiting") << "taken for the finished run of the same name";
  EXPECT_EQ(core::string_at(api_.clusters["demo"], "status.operation.name"), "demo-create-g1");
}

TEST_F(ControllerTest, CancelWhileQueuedAndMissingCluster) {
  api_.add_op("running", "demo", "2026-11-21T07:00:01Z");
  api_.add_op("queued", "demo", "2026-11-21T07:00:02Z");
  api_.add_op("lost", "nowhere", "2026-11-21T07:00:03Z");
  controller_.reconcile(api_.list());
  EXPECT_EQ(api_.phase("lost"), "Failed");
  EXPECT_EQ(core::string_at(api_.ops["lost"], "status.reason"), "ClusterNotFound");
  api_.ops["queued"]["spec"]["cancel"] = true;
  api_.ops["queued"]["metadata"]["generation"] = 2;
  controller_.reconcile(api_.list());
  EXPECT_EQ(api_.phase("queued"), "Cancelled");
  EXPECT_EQ(api_.ops["queued"]["status"]["observedGeneration"], 2);
  EXPECT_EQ(api_.phase("running"), "Waiting");
  EXPECT_NE(std::find(api_.events.begin(), api_.events.end(), "queued:OperationCancelled"), api_.events.end());
}

}  // namespace
}  // namespace polarstack::cluster
