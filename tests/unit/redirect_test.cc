// The nftables rules the endpoints proxy keeps (runtime/local/redirect.h): pure text; and
// the --node flags of local nodes (runtime/local/node.h, netns.h).
#include <gtest/gtest.h>

#include <set>

#include <unistd.h>

#include <filesystem>

#include "runtime/local/local_runtime.h"
#include "runtime/local/netns.h"
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
      {"primary on a node network: read-write left to the relay", {5001, {5002}, {{5001, "10.77.0.2"}}},
       {"tcp dport 7002 redirect to :5002 "}, {"dport 7001"}},
      {"a reader on a node network: read-only left to the relay", {5001, {5002, 5003}, {{5003, "10.77.0.3"}}},
       {"tcp dport 7001 redirect to :5001 "}, {"dport 7002"}},
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

// --node flags: NAME=LOW-HIGH[@ADDRESS][:/root]. Bad ones name the flag and say why.
TEST(LocalNodeTest, NodeFlagsParseOrSayWhatIsWrong) {
  auto n = parse_node("n1=23000-23099@10.77.0.2:/srv/n1");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->name, "n1");
  EXPECT_EQ(n->port_min, 23000);
  EXPECT_EQ(n->port_max, 23099);
  EXPECT_EQ(n->address, "10.77.0.2");
  EXPECT_EQ(n->root, "/srv/n1");
  EXPECT_EQ(n->host(), "10.77.0.2");
  auto plain = parse_node("local-1=20000-20999");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->address, "");
  EXPECT_EQ(plain->host(), "127.0.0.1");
  EXPECT_EQ(network_of("10.77.0.2"), "10.77.0.0/24");
  struct Case {
    std::string flag, message;
  };
  const std::vector<Case> cases = {
      {"n1", "expected NAME=LOW-HIGH[@ADDRESS][:/root]"},
      {"N1=20000-20100", "expected NAME=LOW-HIGH"},
      {"n1=900-1000", "ports must be a range within 1024-65535"},
      {"n1=21000-20000", "ports must be a range"},
      {"n1=20000-20100@", "is not an IPv4 address"},
      {"n1=20000-20100@10.77.0", "is not an IPv4 address"},
      {"n1=20000-20100@10.77.0.300", "is not an IPv4 address"},
      {"n1=20000-20100@host.example", "is not an IPv4 address"},
      {"n1=20000-20100@10.77.0.1", "the last number must be 2..254"},
      {"n1=20000-20100@10.77.0.255", "the last number must be 2..254"},
      {"n1=20000-20100@127.0.0.5", "a loopback address needs no namespace"},
      {"a-very-long-name=20000-20100@10.77.0.2", "at most 12 characters"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flag);
    auto r = parse_node(c.flag);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("--node"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << r.error().message;
  }
}

// Nodes with addresses must share one /24 and not repeat an address; nothing is created
// when they do not (checked before any directory or namespace is made).
TEST(LocalNodeTest, NodeNetworksMustShareOneNetwork) {
  std::string root = ::testing::TempDir() + "/polarstack-nodes-" + std::to_string(::getpid());
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"a=20000-20099@10.77.0.2", "b=20100-20199@10.78.0.3"}, "must be in one /24 network (10.77.0.0/24), got 10.78.0.3"},
      {{"a=20000-20099@10.77.0.2", "b=20100-20199@10.77.0.2"}, "nodes a and b have the same address 10.77.0.2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    Options o;
    o.data_root = root;
    for (const auto& f : c.flags) o.nodes.push_back(*parse_node(f));
    auto rt = LocalRuntime::open(o);
    ASSERT_FALSE(rt);
    EXPECT_NE(rt.error().message.find(c.message), std::string::npos) << rt.error().message;
    EXPECT_FALSE(std::filesystem::exists(root + "/nodes/a"));
  }
  std::filesystem::remove_all(root);
}

// Every port a redirect table names is found in nft's listing, so the port allocator
// never hands out one whose connections would go elsewhere; labels hold no ports.
TEST(RedirectTest, PortsInAListingAreAllFound) {
  struct Case {
    std::string listing;
    std::set<int> ports;
  };
  const std::vector<Case> cases = {
      {"table ip polarstack_ep_9 {\n\tchain out {\n\t\ttype nat hook output priority -100; policy accept;\n"
       "\t\tip daddr 127.0.0.1 tcp dport 29001 redirect to :29003 comment \"default/x read-write\"\n"
       "\t\tip daddr 127.0.0.1 tcp dport 29002 redirect to :numgen inc mod 2 map { 0 : 29004, 1 : 29005 } "
       "comment \"default/x read-only\"\n\t}\n}\n",
       {29001, 29002, 29003, 29004, 29005}},
      {"table ip polarstack_ep_9 {\n\tchain out {\n\t\ttype nat hook output priority -100; policy accept;\n\t}\n}\n", {}},
      {"\t\tip daddr 127.0.0.1 tcp dport 20000 redirect to :20002 comment \"default/c-20 dport 31000 read-write\"\n",
       {20000, 20002}},
      {"\t\tip daddr 127.0.0.1 tcp dport 999999 redirect to :0\n", {}},  // not ports: ignored
      {"", {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.listing);
    EXPECT_EQ(ports_in_redirect_listing(c.listing), c.ports);
  }
}

}  // namespace
}  // namespace polarstack::runtime::local
