#include "apiserver/selectors.h"

#include <gtest/gtest.h>

namespace polarstack::apiserver {
namespace {

TEST(LabelSelector, Table) {
  std::map<std::string, std::string> labels = {{"app", "db"}, {"role", "primary"}};
  struct Case {
    std::string sel;
    bool match;
  } cases[] = {
      {"", true},
      {"app=db", true},
      {"app==db", true},
      {"app=web", false},
      {"app!=web", true},
      {"app!=db", false},
      {"role in (primary,replica)", true},
      {"role in (replica)", false},
      {"role notin (replica)", true},
      {"app", true},
      {"missing", false},
      {"!missing", true},
      {"!app", false},
      {"app=db,role=primary", true},
      {"app=db,role=replica", false},
  };
  for (const auto& c : cases) {
    auto s = LabelSelector::parse(c.sel);
    ASSERT_TRUE(s) << c.sel << ": " << s.error().message;
    EXPECT_EQ(s->matches(labels), c.match) << c.sel;
  }
}

TEST(LabelSelector, BadInputIsRejected) {
  for (const char* bad : {"role in primary", "role within (a)", "a b=c"}) {
    auto s = LabelSelector::parse(bad);
    EXPECT_FALSE(s) << bad;
  }
}

TEST(FieldSelector, MatchesJsonPaths) {
  core::Json ev = {{"metadata", {{"name", "e1"}, {"namespace", "default"}}},
                   {"involvedObject", {{"kind", "PolarDBCluster"}, {"name", "demo"}}}};
  auto s = FieldSelector::parse("involvedObject.name=demo,involvedObject.kind=PolarDBCluster");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->matches(ev));
  auto t = FieldSelector::parse("metadata.name!=e1");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->matches(ev));
  EXPECT_FALSE(FieldSelector::parse("metadata.name"));
}

}  // namespace
}  // namespace polarstack::apiserver
