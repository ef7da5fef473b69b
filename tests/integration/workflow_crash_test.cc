// Crash matrix: a 4-step workflow is killed with SIGKILL at every step boundary
// (before a step runs, and after it ran but before its result was saved), then
// restarted. Every run must complete with each step's effect applied exactly once,
// the interrupted step run again when its result was lost, and context preserved.
#include <gtest/gtest.h>

#include <sstream>

#include "core/files.h"
#include "support/harness.h"

namespace polarstack {
namespace {

std::vector<std::string> lines(const std::string& path) {
  auto text = core::read_file(path);
  std::vector<std::string> out;
  if (!text) return out;
  std::istringstream in(*text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(WorkflowCrashMatrix, EveryStepBoundary) {
  const std::vector<std::string> steps = {"a", "b", "c", "d"};
  for (const auto& step : steps) {
    for (const std::string when : {"before", "after"}) {
      SCOPED_TRACE(when + ":" + step);
      testing::TempDir dir;
      auto crashed = testing::run({WORKFLOW_CRASH_HELPER, dir.path()}, {{"POLARSTACK_FAILPOINTS", when + ":" + step + "=crash"}});
      EXPECT_EQ(crashed.exit_code, 128 + 9) << "the failpoint must kill the process: " << crashed.out << crashed.err;
      auto resumed = testing::run({WORKFLOW_CRASH_HELPER, dir.path()}, {{"POLARSTACK_FAILPOINTS", ""}});
      EXPECT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
      EXPECT_EQ(resumed.out, "Succeeded Completed\n");
      EXPECT_EQ(lines(dir.path() + "/applied.log"), steps) << "each effect exactly once, in order";
      auto runs = lines(dir.path() + "/runs.log");
      size_t n = std::count(runs.begin(), runs.end(), step);
      EXPECT_EQ(n, when == "after" ? 2u : 1u) << "a step whose result was lost runs again; one that never ran runs once";
      for (const auto& other : steps) {
        if (other != step) {
          EXPECT_EQ(std::count(runs.begin(), runs.end(), other), 1) << other;
        }
      }
    }
  }
}

}  // namespace
}  // namespace polarstack
