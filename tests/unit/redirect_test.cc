// The nftables rules the endpoints proxy keeps (runtime/local/redirect.h): pure text.
#include <gtest/gtest.h>

#include "runtime/local/redirect.h"

namespace polarstack::runtime::local {
namespace {

TEST(RedirectTest, TableNamesEncodeTheProxyPid) {
  EXPECT_EQ(redirect_table(4242), "polarstack_ep_4242");
  EXPECT_EQ(redirect_table_pid("polarstack_ep_4242"), 4242);
  for (const char* other : {"polarstack_ep_", "polarstack_ep_12a", "nat", "polarstack_ep_1234567890", "xpolarstack_ep_1"}) {
    EXPECT_EQ(redirect_table_pid(other), -1) << other;
  }
}

TEST(RedirectTest, ScriptRoutesBothEndpoints) {
  struct Case {
    const char* name;
    Routes routes;
    std::vector<std::string> present, absent;
  };
  const std::vector<Case> cases = {
      {"primary and two readers",
       {5001, {5002, 5003}},
       {"tcp dport 7001 redirect to :5001 comment \"default/c1 read-write\"",
        "tcp dport 7002 redirect to :numgen inc mod 2 map { 0 : 5002, 1 : 5003 } comment \"default/c1 read-only\""},
       {}},
      {"one reader", {5001, {5002}}, {"tcp dport 7002 redirect to :5002 "}, {"numgen"}},
      {"no reader: read-only goes to the primary", {5001, {}}, {"tcp dport 7002 redirect to :5001 "}, {}},
      {"no primary: read-write left to the relay, which refuses", {0, {5002}},
       {"tcp dport 7002 redirect to :5002 "}, {"dport 7001"}},
      {"nothing ready: no rules at all", {0, {}}, {"type nat hook output"}, {"dport"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string s = redirect_script("polarstack_ep_9", "default/c1", 7001, 7002, c.routes);
    // Replaced as one transaction whether or not the table exists.
    EXPECT_EQ(s.rfind("add table ip polarstack_ep_9\ndelete table ip polarstack_ep_9\ntable ip polarstack_ep_9 {", 0), 0u) << s;
    for (const auto& p : c.present) EXPECT_NE(s.find(p), std::string::npos) << p << "\n" << s;
    for (const auto& a : c.absent) EXPECT_EQ(s.find(a), std::string::npos) << a << "\n" << s;
    // Only loopback traffic to our own ports is touched.
    for (size_t at = s.find("redirect"); at != std::string::npos; at = s.find("redirect", at + 1)) {
      size_t line = s.rfind('\n', at);
      EXPECT_NE(s.substr(line, at - line).find("ip daddr 127.0.0.1 tcp dport 700"), std::string::npos) << s;
    }
  }
}

}  // namespace
}  // namespace polarstack::runtime::local
