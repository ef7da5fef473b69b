#include "apiserver/resources.h"

#include "apiserver/cluster_admission.h"

#include <gtest/gtest.h>

#include "support/harness.h"

namespace polarstack::apiserver {
namespace {

class ResourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::open({dir_.path() + "/state.db"});
    ASSERT_TRUE(s);
    store_ = std::move(*s);
    res_ = std::make_unique<Resources>(*store_);
    clusters_ = reg_.find("polarstack.io", "v1", "polardbclusters");
    configmaps_ = reg_.find("", "v1", "configmaps");
  }
  Json cluster(int readers) {
    return {{"apiVersion", "polarstack.io/v1"}, {"kind", "PolarDBCluster"}, {"metadata", {{"name", "demo"}}},
            {"spec", {{"readers", readers}}}};
  }
  Json get(const std::string& name = "demo") {
    auto o = res_->get(*clusters_, "default", name);
    return o ? *core::parse_json(*o->data) : Json();
  }
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Resources> res_;
  Registry reg_;
  const ResourceType* clusters_;
  const ResourceType* configmaps_;
};

TEST_F(ResourcesTest, CreateSetsSystemFieldsAndDefaults) {
  auto r = res_->create(*clusters_, "default", cluster(2));
  ASSERT_TRUE(r) << r.error().describe();
  Json o = get();
  EXPECT_EQ(o["metadata"]["generation"], 1);
  EXPECT_EQ(o["metadata"]["namespace"], "default");
  EXPECT_EQ(core::string_at(o, "metadata.uid").size(), 36u);
  EXPECT_FALSE(core::string_at(o, "metadata.creationTimestamp").empty());
  EXPECT_EQ(o["spec"]["replication"]["mode"], "async");
  auto again = res_->create(*clusters_, "default", cluster(2));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, core::Code::kAlreadyExists);
}

TEST_F(ResourcesTest, GenerationChangesOnlyWithSpec) {
  ASSERT_TRUE(res_->create(*clusters_, "default", cluster(2)));
  Json o = get();
  o["metadata"]["labels"] = {{"team", "db"}};
  auto r1 = res_->update(*clusters_, "default", "demo", o, false);
  ASSERT_TRUE(r1);
  EXPECT_EQ(get()["metadata"]["generation"], 1);
  EXPECT_NE(core::string_at(get(), "metadata.resourceVersion"), core::string_at(o, "metadata.resourceVersion"));
  Json o2 = get();
  o2["spec"]["readers"] = 3;
  ASSERT_TRUE(res_->update(*clusters_, "default", "demo", o2, false));
  EXPECT_EQ(get()["metadata"]["generation"], 2);
  // A status write never bumps generation and never touches spec.
  Json st = get();
  st["status"] = {{"phase", "Running"}};
  st["spec"]["readers"] = 9;
  ASSERT_TRUE(res_->update(*clusters_, "default", "demo", st, true));
  EXPECT_EQ(get()["metadata"]["generation"], 2);
  EXPECT_EQ(get()["spec"]["readers"], 3);
  EXPECT_EQ(get()["status"]["phase"], "Running");
  // A spec write never touches status.
  Json sp = get();
  sp["status"] = {{"phase", "Failed"}};
  ASSERT_TRUE(res_->update(*clusters_, "default", "demo", sp, false));
  EXPECT_EQ(get()["status"]["phase"], "Running");
}

TEST_F(ResourcesTest, StaleResourceVersionIsAConflictAndChangesNothing) {
  ASSERT_TRUE(res_->create(*clusters_, "default", cluster(2)));
  Json stale = get();
  Json fresh = get();
  fresh["spec"]["readers"] = 4;
  ASSERT_TRUE(res_->update(*clusters_, "default", "demo", fresh, false));
  Json before = get();
  stale["spec"]["readers"] = 5;
  auto r = res_->update(*clusters_, "default", "demo", stale, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kConflict);
  EXPECT_NE(r.error().message.find("the object has been modified"), std::string::npos);
  EXPECT_EQ(get(), before);
  // A patch carrying the stale resourceVersion is refused too.
  auto p = res_->patch(*clusters_, "default", "demo", PatchType::kMerge,
                       Json{{"metadata", {{"resourceVersion", stale["metadata"]["resourceVersion"]}}}, {"spec", {{"readers", 6}}}}.dump(),
                       false);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, core::Code::kConflict);
  EXPECT_EQ(get(), before);
}

TEST_F(ResourcesTest, NoOpUpdateKeepsTheResourceVersion) {
  ASSERT_TRUE(res_->create(*clusters_, "default", cluster(2)));
  Json o = get();
  auto r = res_->update(*clusters_, "default", "demo", o, false);
  ASSERT_TRUE(r);
  EXPECT_EQ(core::string_at(get(), "metadata.resourceVersion"), core::string_at(o, "metadata.resourceVersion"));
}

TEST_F(ResourcesTest, Patches) {
  ASSERT_TRUE(res_->create(*clusters_, "default", cluster(2)));
  ASSERT_TRUE(res_->patch(*clusters_, "default", "demo", PatchType::kMerge, R"({"spec":{"readers":4}})", false));
  EXPECT_EQ(get()["spec"]["readers"], 4);
  ASSERT_TRUE(res_->patch(*clusters_, "default", "demo", PatchType::kJson,
                          R"([{"op":"replace","path":"/spec/readers","value":1}])", false));
  EXPECT_EQ(get()["spec"]["readers"], 1);
  EXPECT_EQ(get()["metadata"]["generation"], 3);
  auto smp = res_->patch(*clusters_, "default", "demo", PatchType::kStrategic, R"({"spec":{"readers":2}})", false);
  ASSERT_FALSE(smp);
  EXPECT_EQ(smp.error().code, core::Code::kUnsupported);
  auto bad = res_->patch(*clusters_, "default", "demo", PatchType::kMerge, R"({"spec":{"readers":42}})", false);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, core::Code::kInvalid);
  EXPECT_EQ(get()["spec"]["readers"], 1);
}

TEST_F(ResourcesTest, FinalizersDelayDeletion) {
  Json c = cluster(1);
  c["metadata"]["finalizers"] = {"polarstack.io/cleanup"};
  ASSERT_TRUE(res_->create(*clusters_, "default", c));
  auto d = res_->remove(*clusters_, "default", "demo", Json::object());
  ASSERT_TRUE(d);
  Json marked = get();
  ASSERT_FALSE(marked.is_null()) << "an object with finalizers must stay";
  EXPECT_FALSE(core::string_at(marked, "metadata.deletionTimestamp").empty());
  // No new finalizers while deleting.
  Json add = marked;
  add["metadata"]["finalizers"].push_back("other");
  auto r = res_->update(*clusters_, "default", "demo", add, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kInvalid);
  // Removing the last finalizer completes the deletion.
  Json done = marked;
  done["metadata"]["finalizers"] = Json::array();
  ASSERT_TRUE(res_->update(*clusters_, "default", "demo", done, false));
  EXPECT_TRUE(get().is_null());
}

TEST_F(ResourcesTest, DeletePreconditions) {
  ASSERT_TRUE(res_->create(*clusters_, "default", cluster(1)));
  auto r = res_->remove(*clusters_, "default", "demo", {{"preconditions", {{"resourceVersion", "999"}}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kConflict);
  EXPECT_FALSE(get().is_null());
  EXPECT_TRUE(res_->remove(*clusters_, "default", "demo", Json::object()));
  EXPECT_TRUE(get().is_null());
  auto again = res_->remove(*clusters_, "default", "demo", Json::object());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, core::Code::kNotFound);
}

TEST_F(ResourcesTest, BadCreatesAreRejectedAndStoreNothing) {
  struct Case {
    std::string ns;
    Json body;
    core::Code code;
    std::string text;
  } cases[] = {
      {"default", Json::array(), core::Code::kBadRequest, "must be a JSON object"},
      {"default", {{"apiVersion", "polarstack.io/v2"}, {"kind", "PolarDBCluster"}}, core::Code::kBadRequest, "API version"},
      {"default", {{"kind", "Other"}}, core::Code::kBadRequest, "kind"},
      {"default", {{"metadata", {{"name", "x"}, {"namespace", "prod"}}}, {"spec", Json::object()}}, core::Code::kBadRequest,
       "namespace"},
      {"default", {{"metadata", {{"name", "x"}, {"resourceVersion", "5"}}}, {"spec", Json::object()}}, core::Code::kBadRequest,
       "resourceVersion"},
      {"default", {{"metadata", {{"name", "x"}}}, {"spec", {{"readers", 16}}}}, core::Code::kInvalid, "spec.readers"},
      {"default", {{"metadata", {{"name", "UPPER"}}}, {"spec", Json::object()}}, core::Code::kInvalid, "metadata.name"},
  };
  for (const auto& c : cases) {
    auto r = res_->create(*clusters_, c.ns, c.body);
    ASSERT_FALSE(r) << c.body.dump();
    EXPECT_EQ(r.error().code, c.code) << c.body.dump();
    EXPECT_NE(r.error().describe().find(c.text), std::string::npos) << r.error().describe();
  }
  EXPECT_EQ(store_->revision(), 0) << "nothing may be written by a rejected request";
}

TEST_F(ResourcesTest, CoreKindsAreStoredAsTheyAre) {
  Json cm = {{"metadata", {{"name", "settings"}, {"labels", {{"a", "b"}}}}}, {"data", {{"k", "v"}}}};
  ASSERT_TRUE(res_->create(*configmaps_, "default", cm));
  auto l = res_->list(*configmaps_, "", *LabelSelector::parse("a=b"), FieldSelector());
  ASSERT_TRUE(l);
  ASSERT_EQ(l->items.size(), 1u);
  EXPECT_EQ(core::parse_json(*l->items[0].data)->at("data")["k"], "v");
  auto none = res_->list(*configmaps_, "", *LabelSelector::parse("a=c"), FieldSelector());
  EXPECT_TRUE(none->items.empty());
}

// A cluster stored when spec.resources and spec.storage.size had defaults that did
// nothing may drop them; spec.storage.size may not change otherwise (spec.resources may:
// a class change).
TEST(ClusterUpdate, LegacyDefaultsMayBeDroppedAndNothingElseChanges) {
  auto cluster = [](core::Json spec) {
    return core::Json{{"metadata", {{"name", "demo"}}}, {"spec", std::move(spec)}};
  };
  const core::Json legacy = {{"readers", 1}, {"resources", {{"cpu", "1"}, {"memory", "1Gi"}}}, {"storage", {{"size", "10Gi"}}}};
  struct Case {
    core::Json current, next;
    std::string refused;  // "" = allowed, else the field named
  } cases[] = {
      {legacy, {{"readers", 1}, {"storage", core::Json::object()}}, ""},
      {legacy, {{"readers", 1}, {"resources", {{"cpu", ""}, {"memory", ""}}}, {"storage", {{"size", ""}}}}, ""},
      // spec.resources acts now (a ChangeClass): it may change.
      {legacy, {{"readers", 1}, {"resources", {{"cpu", "2"}, {"memory", "1Gi"}}}, {"storage", {{"size", "10Gi"}}}}, ""},
      {legacy, {{"readers", 1}, {"resources", {{"cpu", "1"}, {"memory", "1Gi"}}}, {"storage", {{"size", "20Gi"}}}},
       "spec.storage.size"},
      {{{"readers", 1}}, {{"readers", 1}, {"resources", {{"cpu", "1"}, {"memory", "1Gi"}}}}, ""},
      {{{"readers", 1}, {"storage", {{"size", "5Gi"}}}}, {{"readers", 1}}, "spec.storage.size"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.current.dump() + " -> " + c.next.dump());
    auto st = check_cluster_update(cluster(c.current), cluster(c.next));
    if (c.refused.empty()) {
      EXPECT_TRUE(st) << st.error().describe();
    } else {
      ASSERT_FALSE(st);
      EXPECT_NE(st.error().describe().find(c.refused + ": cannot be changed"), std::string::npos) << st.error().describe();
    }
  }
}

}  // namespace
}  // namespace polarstack::apiserver

namespace polarstack::apiserver {
namespace {

// spec.resources at admission, as a table: refused where limits cannot be enforced (no
// root, no cgroups: the provider says why), a class the ConfigMap does not have, a
// malformed class; nothing stored then. An update reads the classes before its store
// transaction (a read inside it would deadlock).
TEST_F(ResourcesTest, ResourcesAreRefusedWhereTheyCannotActAndClassesMustExist) {
  ASSERT_TRUE(res_->create(*configmaps_, "default",
                           {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                            {"metadata", {{"name", "polarstack-instance-classes"}}},
                            {"data", {{"polar.pg.x1.small", "cpu=1 memory=1Gi"}, {"broken", "cpu=1"}}}}));
  std::string why_not;
  set_limits_support([&] { return why_not; });
  auto with = [&](Json resources) {
    Json c = cluster(1);
    c["spec"]["resources"] = std::move(resources);
    return c;
  };
  struct Case {
    std::string unsupported;
    Json resources;
    std::string refused;  // "" = admitted
  } cases[] = {
      {"CPU and memory limits need root (cgroups); this server runs as uid 1000", {{"cpu", "1"}},
       "spec.resources: cannot be enforced here: CPU and memory limits need root (cgroups); this server runs as uid 1000"},
      {"", {{"class", "polar.pg.x9.huge"}},
       "spec.resources.class: no instance class \"polar.pg.x9.huge\" in ConfigMap default/polarstack-instance-classes "
       "(classes: broken, polar.pg.x1.small)"},
      {"", {{"class", "broken"}}, "spec.resources.class: instance class \"broken\" is malformed: a class needs both"},
      {"", {{"class", "polar.pg.x1.small"}}, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.resources.dump());
    why_not = c.unsupported;
    auto created = res_->create(*clusters_, "default", with(c.resources));
    if (c.refused.empty()) {
      ASSERT_TRUE(created) << created.error().describe();
      ASSERT_TRUE(res_->remove(*clusters_, "default", "demo", Json::object()));
      continue;
    }
    ASSERT_FALSE(created);
    EXPECT_NE(created.error().describe().find(c.refused), std::string::npos) << created.error().describe();
    EXPECT_FALSE(res_->get(*clusters_, "default", "demo")) << "stored";
  }
  // Updates: the same rules, and nothing changes when refused.
  why_not = "";
  ASSERT_TRUE(res_->create(*clusters_, "default", cluster(1)));
  auto bad = res_->update(*clusters_, "default", "demo", with({{"class", "nope"}}), false);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().describe().find("no instance class \"nope\""), std::string::npos) << bad.error().describe();
  EXPECT_FALSE(get().contains("spec") && get()["spec"].contains("resources") && !get()["spec"]["resources"].empty());
  auto good = res_->patch(*clusters_, "default", "demo", PatchType::kMerge,
                          R"({"spec":{"resources":{"class":"polar.pg.x1.small"}}})", false);
  EXPECT_TRUE(good) << good.error().describe();
  set_limits_support(nullptr);
}

}  // namespace
}  // namespace polarstack::apiserver
