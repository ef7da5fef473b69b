// The planner as a table: spec and derived operations in, plan out.
#include <gtest/gtest.h>

#include "cluster/planner.h"
#include "cluster/workflows.h"

namespace polarstack::cluster {
namespace {

using core::Json;

Json cluster(int64_t generation, int readers, bool finalizer = true, bool deleting = false, int64_t observed = 0) {
  Json c = {{"metadata", {{"name", "c"}, {"namespace", "default"}, {"uid", "u1"}, {"generation", generation}}},
            {"spec", {{"readers", readers}}},
            {"status", {{"observedGeneration", observed}}}};
  if (finalizer) c["metadata"]["finalizers"] = Json::array({kFinalizer});
  if (deleting) c["metadata"]["deletionTimestamp"] = "2026-11-21T00:00:00Z";
  return c;
}

Json op(const std::string& type, int64_t generation, int readers, const std::string& phase, const std::string& uid = "u1") {
  return {{"metadata",
           {{"name", "c-" + type + "-g" + std::to_string(generation)},
            {"labels", {{kDerivedLabel, "true"}, {kClusterUidLabel, uid}}},
            {"annotations", {{kGenerationAnnotation, std::to_string(generation)}}}}},
          {"spec", {{"type", type}, {"readers", readers}}},
          {"status", {{"phase", phase}}}};
}

TEST(PlannerTest, Table) {
  struct Case {
    std::string name;
    Json cluster;
    std::vector<Json> ops;
    std::string create;                    // type of the operation to create ("" none)
    std::vector<std::string> supersede;
    std::optional<int64_t> observed;
    bool finalizer = false;
  };
  std::vector<Case> cases = {
      {"new cluster", cluster(1, 2, false), {}, "Create", {}, std::nullopt, true},
      {"create running", cluster(1, 2), {op("Create", 1, 2, "Running")}, "", {}, std::nullopt},
      {"create done", cluster(1, 2), {op("Create", 1, 2, "Succeeded")}, "", {}, 1},
      {"already observed", cluster(1, 2, true, false, 1), {op("Create", 1, 2, "Succeeded")}, "", {}, std::nullopt},
      {"scale while creating queues", cluster(2, 4), {op("Create", 1, 2, "Running")}, "ScaleReaders", {}, std::nullopt},
      {"newer scale supersedes older",
       cluster(3, 1),
       {op("Create", 1, 2, "Succeeded"), op("ScaleReaders", 2, 4, "Running")},
       "ScaleReaders",
       {"c-ScaleReaders-g2"},
       std::nullopt},
      {"same readers again is observed",
       cluster(3, 2, true, false, 1),
       {op("Create", 1, 2, "Succeeded")},
       "",
       {},
       3},
      {"delete supersedes what runs",
       cluster(2, 2, true, true),
       {op("Create", 1, 2, "Running")},
       "Delete",
       {"c-Create-g1"},
       std::nullopt},
      {"delete planned once", cluster(2, 2, true, true), {op("Create", 1, 2, "Succeeded"), op("Delete", 2, 0, "Running")}, "", {}, std::nullopt},
      {"another cluster's history is ignored", cluster(1, 2), {op("Create", 1, 2, "Succeeded", "old-uid")}, "Create", {}, std::nullopt},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    Plan p = plan(tc.cluster, tc.ops);
    EXPECT_EQ(p.create ? core::string_at(*p.create, "spec.type") : "", tc.create);
    EXPECT_EQ(p.supersede, tc.supersede);
    EXPECT_EQ(p.observed_generation, tc.observed);
    EXPECT_EQ(p.add_finalizer, tc.finalizer);
    if (p.create) {
      EXPECT_EQ(core::string_at(*p.create, "spec.clusterRef"), "c");
      EXPECT_EQ((*p.create)["metadata"]["labels"][kClusterUidLabel], "u1");
    }
  }
}

// spec.primary: a Switchover to it whenever it changes, one at a time, never to undo a
// failover; the spec is observed once that Switchover succeeded.
TEST(PlannerTest, DeclaredPrimary) {
  auto with_primary = [](Json c, const std::string& p) {
    c["spec"]["primary"] = p;
    return c;
  };
  auto switchover = [](int64_t generation, const std::string& target, const std::string& phase) {
    Json o = op("Switchover", generation, 0, phase);
    o["spec"].erase("readers");
    o["spec"]["target"] = target;
    return o;
  };
  struct Case {
    std::string name;
    Json cluster;
    std::vector<Json> ops;
    std::string create_target;  // "" no Switchover planned
    std::optional<int64_t> observed;
  };
  std::vector<Case> cases = {
      {"set on a running cluster", with_primary(cluster(2, 2, true, false, 1), "c-2"), {op("Create", 1, 2, "Succeeded")}, "c-2", std::nullopt},
      {"set at creation: after Create", with_primary(cluster(1, 2), "c-1"), {op("Create", 1, 2, "Running")}, "", std::nullopt},
      {"set at creation, Create done", with_primary(cluster(1, 2), "c-1"), {op("Create", 1, 2, "Succeeded")}, "c-1", std::nullopt},
      {"switchover running", with_primary(cluster(2, 2), "c-2"), {op("Create", 1, 2, "Succeeded"), switchover(2, "c-2", "Running")}, "", std::nullopt},
      {"switchover done: observed", with_primary(cluster(2, 2), "c-2"), {op("Create", 1, 2, "Succeeded"), switchover(2, "c-2", "Succeeded")}, "", 2},
      {"switchover failed: not observed, not retried", with_primary(cluster(2, 2), "c-2"),
       {op("Create", 1, 2, "Succeeded"), switchover(2, "c-2", "Failed")}, "", std::nullopt},
      {"changed again", with_primary(cluster(3, 2), "c-0"), {op("Create", 1, 2, "Succeeded"), switchover(2, "c-2", "Succeeded")}, "c-0", std::nullopt},
      {"another field changed after a failover: no switch back", with_primary(cluster(3, 2, true, false, 2), "c-2"),
       {op("Create", 1, 2, "Succeeded"), switchover(2, "c-2", "Succeeded")}, "", 3},
      {"waits for a running ScaleReaders", with_primary(cluster(3, 3), "c-3"),
       {op("Create", 1, 2, "Succeeded"), op("ScaleReaders", 3, 3, "Running")}, "", std::nullopt},
      {"after ScaleReaders", with_primary(cluster(3, 3), "c-3"),
       {op("Create", 1, 2, "Succeeded"), op("ScaleReaders", 3, 3, "Succeeded")}, "c-3", std::nullopt},
      {"cleared: nothing to do", with_primary(cluster(3, 2, true, false, 2), ""),
       {op("Create", 1, 2, "Succeeded"), switchover(2, "c-2", "Succeeded")}, "", 3},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    Plan p = plan(tc.cluster, tc.ops);
    bool is_switchover = p.create && core::string_at(*p.create, "spec.type") == "Switchover";
    EXPECT_EQ(is_switchover ? core::string_at(*p.create, "spec.target") : "", tc.create_target);
    if (p.create && !is_switchover) ADD_FAILURE() << "planned " << p.create->dump();
    EXPECT_EQ(p.observed_generation, tc.observed);
    if (is_switchover) {
      EXPECT_EQ(core::string_at(*p.create, "metadata.name"),
                "c-switchover-g" + std::to_string(tc.cluster["metadata"]["generation"].get<int64_t>()));
    }
  }
}

TEST(PlannerTest, InstanceNumbers) {
  EXPECT_EQ(instance_number("c", "c-0"), 0);
  EXPECT_EQ(instance_number("c", "c-12"), 12);
  EXPECT_EQ(instance_number("c", "cx-1"), -1);
  EXPECT_EQ(instance_number("c-1", "c-1-3"), 3);
  EXPECT_EQ(instance_number("c", "c-"), -1);
}

}  // namespace
}  // namespace polarstack::cluster
