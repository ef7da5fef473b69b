#include "core/yaml.h"

#include <gtest/gtest.h>

namespace polarstack::core {
namespace {

TEST(Yaml, ScalarsKeepTheirTypes) {
  auto docs = parse_yaml_documents("a: 3\nb: \"3\"\nc: true\nd: ~\ne: 1.5\nf: hello\ng: '15'\n");
  ASSERT_TRUE(docs) << docs.error().message;
  const Json& d = (*docs)[0];
  EXPECT_EQ(d["a"], 3);
  EXPECT_EQ(d["b"], "3");
  EXPECT_EQ(d["c"], true);
  EXPECT_TRUE(d["d"].is_null());
  EXPECT_DOUBLE_EQ(d["e"].get<double>(), 1.5);
  EXPECT_EQ(d["f"], "hello");
  EXPECT_EQ(d["g"], "15");
}

TEST(Yaml, MultipleDocumentsSkipEmptyOnes) {
  auto docs = parse_yaml_documents("---\na: 1\n---\n---\nb: 2\n");
  ASSERT_TRUE(docs);
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[1]["b"], 2);
}

TEST(Yaml, ErrorsNameLineAndColumn) {
  auto docs = parse_yaml_documents("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().message.find("line "), std::string::npos) << docs.error().message;
  EXPECT_NE(docs.error().message.find("column "), std::string::npos) << docs.error().message;
}

TEST(Yaml, DuplicateKeysAreErrors) {
  auto docs = parse_yaml_documents("spec:\n  readers: 1\n  readers: 2\n");
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().message.find("line 3, column 3"), std::string::npos) << docs.error().message;
  EXPECT_NE(docs.error().message.find("duplicate key \"readers\""), std::string::npos);
}

TEST(Yaml, RoundTripKeepsStringsThatLookLikeOtherTypes) {
  Json v = {{"version", "15"}, {"flag", "true"}, {"n", 15}, {"empty", ""}, {"list", {"a", "null"}},
            {"nested", {{"x", Json::object()}}}};
  auto back = parse_yaml_documents(to_yaml(v));
  ASSERT_TRUE(back) << to_yaml(v);
  EXPECT_EQ((*back)[0], v) << to_yaml(v);
}

}  // namespace
}  // namespace polarstack::core
