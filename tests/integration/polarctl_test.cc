// polarctl as a person uses it, against a real server: the happy path and the errors
// a person must understand.
#include <gtest/gtest.h>


#include "core/files.h"
#include "support/harness.h"

namespace polarstack {
namespace {

using testing::run;
using testing::RunResult;

class PolarctlTest : public ::testing::Test {
 protected:
  RunResult ctl(std::vector<std::string> args, const std::string& input = "") { return server_.polarctl(args, input); }
  testing::ServerProcess server_;
};

TEST_F(PolarctlTest, ApplyGetScaleDescribeDelete) {
  std::string example = testing::source_dir() + "/examples/cluster.yaml";
  auto r = ctl({"apply", "-f", example});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "polardbcluster.polarstack.io/demo created\n");
  r = ctl({"apply", "-f", example});
  EXPECT_EQ(r.out, "polardbcluster.polarstack.io/demo unchanged\n");
  r = ctl({"get", "pdb"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("NAME"), std::string::npos);
  EXPECT_NE(r.out.find("READERS"), std::string::npos);
  EXPECT_NE(r.out.find("demo"), std::string::npos);
  r = ctl({"scale", "demo", "--readers", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "polardbcluster.polarstack.io/demo scaled (readers: 2 -> 4)\n");
  r = ctl({"get", "polardbcluster", "demo", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0);
  auto j = core::parse_json(r.out);
  ASSERT_TRUE(j) << r.out;
  EXPECT_EQ((*j)["spec"]["readers"], 4);
  EXPECT_EQ((*j)["metadata"]["generation"], 2);
  r = ctl({"get", "pdb", "demo", "-o", "yaml"});
  EXPECT_NE(r.out.find("readers: 4"), std::string::npos) << r.out;
  r = ctl({"describe", "pdb", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Name:"), std::string::npos);
  EXPECT_NE(r.out.find("Events:"), std::string::npos);
  r = ctl({"delete", "pdb", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "polardbcluster.polarstack.io/demo deleted\n");
  r = ctl({"get", "pdb"});
  EXPECT_NE(r.err.find("No resources found in default namespace."), std::string::npos);
}

TEST_F(PolarctlTest, WatchPrintsChangesAsTheyHappen) {
  ASSERT_EQ(ctl({"apply", "-f", testing::source_dir() + "/examples/cluster.yaml"}).exit_code, 0);
  std::string out = server_.home() + "/watch.out";
  auto child = core::spawn({{testing::polarctl_bin(), "get", "pdb", "-w"}, {{"POLARSTACK_HOME", server_.home()}, {"KUBECONFIG", ""}}, out});
  ASSERT_TRUE(child);
  auto count = [&](const std::string& needle) {
    auto text = core::read_file(out);
    size_t n = 0;
    for (size_t p = text ? text->find(needle) : std::string::npos; p != std::string::npos; p = text->find(needle, p + 1)) n++;
    return n;
  };
  ASSERT_TRUE(testing::wait_until([&] { return count("demo") >= 1; }, std::chrono::seconds(10)));
  ASSERT_EQ(ctl({"scale", "demo", "--readers", "7"}).exit_code, 0);
  ASSERT_TRUE(testing::wait_until([&] { return count("demo") >= 2; }, std::chrono::seconds(10)))
      << *core::read_file(out);
  auto text = *core::read_file(out);
  EXPECT_NE(text.find(" 7 "), std::string::npos) << text;
}

TEST_F(PolarctlTest, ErrorsAPersonUnderstands) {
  struct Case {
    std::vector<std::string> args;
    std::string input;
    int exit_code;
    std::vector<std::string> err_has;
  } cases[] = {
      {{"apply", "-f", "-"}, "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: x\nspec: [1, 2\n", 1,
       {"invalid YAML", "line ", "column "}},
      {{"apply", "-f", "-"}, "apiVersion: polarstack.io/v1\nkind: Widget\nmetadata: {name: x}\n", 1,
       {"unknown kind \"Widget\"", "PolarDBCluster"}},
      {{"apply", "-f", "-"},
       "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata: {name: x}\nspec:\n  readers: 99\n  version: \"13\"\n  "
       "colour: blue\n",
       1,
       {"is invalid", "spec.readers: must be between 0 and 15, got 99", "spec.version: major version 13 is not supported",
        "spec.colour: unknown field"}},
      {{"apply", "-f", "/nonexistent.yaml"}, "", 1, {"cannot read /nonexistent.yaml"}},
      {{"apply"}, "", 2, {"needs -f FILE"}},
      {{"get"}, "", 2, {"you must specify the type of resource"}},
      {{"get", "widgets"}, "", 1, {"doesn't have a resource type \"widgets\""}},
      {{"get", "pdb", "nope"}, "", 1, {"polardbclusters.polarstack.io \"nope\" not found"}},
      {{"scale", "nope", "--readers", "2"}, "", 1, {"not found"}},
      {{"scale", "x"}, "", 2, {"usage: polarctl scale"}},
      {{"scale", "x", "--readers", "many"}, "", 2, {"--readers: must be a non-negative number"}},
      {{"frobnicate"}, "", 2, {"unknown command \"frobnicate\""}},
      {{"get", "pdb", "--bogus"}, "", 2, {"unknown flag --bogus"}},
  };
  for (const auto& c : cases) {
    auto r = ctl(c.args, c.input);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_EQ(r.exit_code, c.exit_code) << joined << "\n" << r.err;
    for (const auto& needle : c.err_has) EXPECT_NE(r.err.find(needle), std::string::npos) << joined << "\nstderr: " << r.err;
  }
  auto l = ctl({"get", "pdb"});
  EXPECT_NE(l.err.find("No resources found"), std::string::npos) << "a rejected apply must create nothing";
}

TEST_F(PolarctlTest, ServerDownAndBadCredentials) {
  std::string good = *core::read_file(server_.kubeconfig());
  std::string bad = good;
  auto at = bad.find("token: ");
  bad.replace(at + 7, 8, "deadbeef");
  std::string bad_path = server_.write("bad-kubeconfig", bad);
  auto r = run({testing::polarctl_bin(), "--kubeconfig", bad_path, "get", "pdb"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("rejected the credentials"), std::string::npos) << r.err;

  server_.stop();
  r = ctl({"get", "pdb"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot reach the API server"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("polarstack server"), std::string::npos) << "must say how to start it: " << r.err;

  testing::TempDir empty;
  r = run({testing::polarctl_bin(), "get", "pdb"}, {{"POLARSTACK_HOME", empty.path()}, {"KUBECONFIG", ""}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no kubeconfig found"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace polarstack
