// synchronous_standby_names as the instance manager writes it (instance/postgres.h).
#include <gtest/gtest.h>

#include "instance/postgres.h"

namespace polarstack::instance {
namespace {

TEST(SyncStandbyNames, AnyKOfTheStandbysQuoted) {
  struct Case {
    std::vector<std::string> standbys;
    int k;
    std::string want;
  };
  const std::vector<Case> cases = {
      {{}, 0, ""},
      {{}, 1, ""},                                              // no standbys: asynchronous
      {{"c-1"}, 0, ""},                                         // k 0: asynchronous
      {{"c-1"}, 1, "ANY 1 (\"c-1\")"},
      {{"c-1", "c-2"}, 1, "ANY 1 (\"c-1\", \"c-2\")"},
      {{"c-1", "c-2"}, 5, "ANY 2 (\"c-1\", \"c-2\")"},         // never more than there are
  };
  for (const auto& c : cases) {
    Config cfg;
    cfg.sync_standbys = c.standbys;
    cfg.sync_k = c.k;
    EXPECT_EQ(sync_standby_names(cfg), c.want) << c.standbys.size() << " standbys, k " << c.k;
  }
}

}  // namespace
}  // namespace polarstack::instance
