// polarctl wait's --for and --timeout, and when a condition counts as met (kubectl's
// rules: a condition of an older generation is stale), as tables.
#include <gtest/gtest.h>

#include "cmd/polarctl/wait_spec.h"

namespace polarstack::polarctl {
namespace {

using core::Json;

TEST(WaitSpecTest, ForIsParsedOrRefusedWithAReason) {
  struct Case {
    std::string text;
    bool ok;
    std::string expect;  // ok: kind:condition:value:path; else: part of the error
  };
  auto show = [](const WaitSpec& s) {
    return std::to_string(s.kind) + ":" + s.condition + ":" + s.value + ":" + s.path;
  };
  const std::vector<Case> cases = {
      {"condition=Ready", true, "0:Ready:True:"},
      {"condition=Ready=false", true, "0:Ready:false:"},
      {"condition=Degraded=True", true, "0:Degraded:True:"},
      {"delete", true, "1::True:"},
      {"jsonpath={.status.phase}=Running", true, "2::Running:status.phase"},
      {"jsonpath={.status.currentPrimary}", true, "2:::status.currentPrimary"},
      {"condition=", false, "needs a condition name"},
      {"condition=Ready=maybe", false, "True, False or Unknown, not \"maybe\""},
      {"jsonpath=status.phase", false, "must look like {.status.phase}=Running"},
      {"jsonpath={.status.phase", false, "no closing }"},
      {"jsonpath={.items[0].x}=1", false, "only dotted jsonpaths"},
      {"jsonpath={.status.phase}Running", false, "expected = after the jsonpath"},
      {"ready", false, "unknown condition \"ready\""},
      {"", false, "unknown condition"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto s = parse_wait_for(c.text);
    ASSERT_EQ(s.has_value(), c.ok) << (s ? show(*s) : s.error().message);
    if (c.ok) EXPECT_EQ(show(*s), c.expect);
    else EXPECT_NE(s.error().message.find(c.expect), std::string::npos) << s.error().message;
  }
}

TEST(WaitSpecTest, DurationsAsKubectlTakesThem) {
  struct Case {
    std::string text;
    int64_t ms;  // -1: refused
  };
  const std::vector<Case> cases = {
      {"30s", 30000}, {"5m", 300000}, {"1h30m", 5400000}, {"500ms", 500}, {"90", 90000}, {"0s", 0},
      {"", -1}, {"5x", -1}, {"m", -1}, {"-5s", -1}, {"1.5s", -1}, {"9999999999s", -1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto d = parse_duration(c.text);
    if (c.ms < 0) {
      ASSERT_FALSE(d);
      EXPECT_NE(d.error().message.find("is not a duration"), std::string::npos);
    } else {
      ASSERT_TRUE(d) << d.error().message;
      EXPECT_EQ(d->count(), c.ms);
    }
  }
}

TEST(WaitSpecTest, AConditionOfAnOlderGenerationIsNotMet) {
  auto obj = [](int64_t generation, Json conditions, Json status_og = nullptr) {
    Json o = {{"metadata", {{"name", "demo"}, {"generation", generation}}},
              {"status", {{"phase", "Running"}, {"conditions", conditions}}}};
    if (!status_og.is_null()) o["status"]["observedGeneration"] = status_og;
    return o;
  };
  auto ready = [](const char* status, Json og = nullptr) {
    Json c = {{"type", "Ready"}, {"status", status}, {"reason", "AllInstancesReady"}};
    if (!og.is_null()) c["observedGeneration"] = og;
    return c;
  };
  struct Case {
    std::string name;
    std::string for_;
    Json object;
    bool met;
  };
  const std::vector<Case> cases = {
      {"ready, same generation", "condition=Ready", obj(2, {ready("True", 2)}), true},
      {"ready, computed for generation 1 of 2", "condition=Ready", obj(2, {ready("True", 1)}), false},
      {"ready, computed for generation 0 of 1", "condition=Ready", obj(1, {ready("True", 0)}), false},
      {"no generation on the condition: status.observedGeneration decides", "condition=Ready",
       obj(2, {ready("True")}, 1), false},
      {"no generation anywhere", "condition=Ready", obj(2, {ready("True")}), true},
      {"case-insensitive type and status", "condition=ready=TRUE", obj(1, {ready("True", 1)}), true},
      {"not ready", "condition=Ready", obj(1, {ready("False", 1)}), false},
      {"waiting for false", "condition=Ready=false", obj(1, {ready("False", 1)}), true},
      {"condition absent", "condition=Degraded", obj(1, {ready("True", 1)}), false},
      {"no conditions", "condition=Ready", Json{{"metadata", {{"generation", 1}}}}, false},
      {"jsonpath value", "jsonpath={.status.phase}=Running", obj(1, Json::array()), true},
      {"jsonpath other value", "jsonpath={.status.phase}=Deleting", obj(1, Json::array()), false},
      {"jsonpath number", "jsonpath={.metadata.generation}=3", obj(3, Json::array()), true},
      {"jsonpath present", "jsonpath={.status.phase}", obj(1, Json::array()), true},
      {"jsonpath absent", "jsonpath={.status.endpoints.readWrite}", obj(1, Json::array()), false},
      {"delete never met by an object", "delete", obj(1, Json::array()), false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto s = parse_wait_for(c.for_);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(wait_met(*s, c.object), c.met);
  }
}

}  // namespace
}  // namespace polarstack::polarctl
