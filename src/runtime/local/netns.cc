#include "runtime/local/netns.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>

#include "core/files.h"
#include "core/log.h"
#include "core/process.h"

namespace polarstack::runtime::local {

namespace {
constexpr std::chrono::seconds kIpTimeout{10};

std::string ip_path() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// Runs `ip <args>`; the error names the command and what ip said.
core::Status ip(const std::vector<std::string>& args) {
  std::string bin = ip_path();
  if (bin.empty()) return core::fail(core::Code::kUnavailable, "the ip command is not installed (apt-get install iproute2)");
  std::vector<std::string> argv{bin};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string cmd = "ip";
  for (const auto& a : args) cmd += " " + a;
  return core::run_checked(argv, kIpTimeout, cmd);
}

bool link_exists(const std::string& name, const std::string& ns = "") {
  std::string bin = ip_path();
  if (bin.empty()) return false;
  std::vector<std::string> argv{bin};
  if (!ns.empty()) argv.insert(argv.end(), {"-n", ns});
  argv.insert(argv.end(), {"link", "show", "dev", name});
  auto r = core::run(argv, kIpTimeout);
  return r && r->exit_code == 0;
}

std::string bridge_address(const std::string& address) {
  std::string net = network_of(address);
  return net.substr(0, net.rfind('.')) + ".1/24";
}
}  // namespace

std::string netns_name(const std::string& node) { return "polarstack-" + node; }
std::string netns_path(const std::string& node) { return "/run/netns/" + netns_name(node); }
std::string host_link_name(const std::string& node) { return "ps-" + node; }

std::string network_of(const std::string& address) {
  in_addr a{};
  if (address.find_first_not_of("0123456789.") != std::string::npos || ::inet_pton(AF_INET, address.c_str(), &a) != 1) {
    return "";
  }
  return address.substr(0, address.rfind('.')) + ".0/24";
}

std::string check_node_address(const std::string& node, const std::string& address) {
  if (network_of(address).empty()) return "address \"" + address + "\" is not an IPv4 address (like 10.77.0.2)";
  int last = std::stoi(address.substr(address.rfind('.') + 1));
  if (last < 2 || last > 254) return "address " + address + ": the last number must be 2..254 (.1 is the host's)";
  if (address.rfind("127.", 0) == 0) return "address " + address + ": a loopback address needs no namespace; leave it out";
  if (host_link_name(node).size() > 15) return "a node with an address needs a name of at most 12 characters (its link is ps-<name>)";
  return "";
}

core::Status ensure_node_network(const Node& node) {
  if (node.address.empty()) return {};
  if (::geteuid() != 0) {
    return core::fail(core::Code::kInvalid, "node " + node.name + " has an address (its own network namespace), which needs root");
  }
  if (!link_exists(kBridge)) {
    if (auto st = ip({"link", "add", kBridge, "type", "bridge"}); !st && !link_exists(kBridge)) return st;
  }
  if (auto st = ip({"addr", "replace", bridge_address(node.address), "dev", kBridge}); !st) return st;
  if (auto st = ip({"link", "set", kBridge, "up"}); !st) return st;
  const std::string ns = netns_name(node.name), host = host_link_name(node.name);
  if (!core::file_exists(netns_path(node.name))) {
    if (auto st = ip({"netns", "add", ns}); !st && !core::file_exists(netns_path(node.name))) return st;
  }
  // Configured only when created: an existing link may be down on purpose (a cut node).
  if (link_exists(host)) return {};
  if (link_exists("eth0", ns)) (void)ip({"-n", ns, "link", "del", "eth0"});  // half of an earlier attempt
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns},
           {"link", "set", host, "master", kBridge},
           {"link", "set", host, "up"},
           {"-n", ns, "addr", "replace", node.address + "/24", "dev", "eth0"},
           {"-n", ns, "link", "set", "lo", "up"},
           {"-n", ns, "link", "set", "eth0", "up"},
           {"-n", ns, "route", "replace", "default", "via", bridge_address(node.address).substr(0, bridge_address(node.address).find('/'))},
       }) {
    if (auto st = ip(args); !st) return st;
  }
  core::log_info("runtime", "node " + node.name + ": network namespace " + ns + ", address " + node.address + ", link " + host +
                                " on bridge " + kBridge);
  return {};
}

core::Status remove_node_network(const Node& node, const std::vector<Node>& all) {
  if (node.address.empty() || ::geteuid() != 0) return {};
  const std::string host = host_link_name(node.name);
  if (link_exists(host)) {
    if (auto st = ip({"link", "del", host}); !st) return st;
  }
  if (core::file_exists(netns_path(node.name))) {
    if (auto st = ip({"netns", "del", netns_name(node.name)}); !st) return st;
  }
  bool network_used = false;
  for (const auto& n : all) {
    if (n.name != node.name && !n.address.empty() && network_of(n.address) == network_of(node.address) &&
        link_exists(host_link_name(n.name))) {
      network_used = true;
    }
  }
  if (!network_used && link_exists(kBridge)) (void)ip({"addr", "del", bridge_address(node.address), "dev", kBridge});
  // The bridge goes once nothing is attached to it and it holds no address of anyone's.
  auto ports = core::run({ip_path(), "-o", "link", "show", "master", kBridge}, kIpTimeout);
  auto addrs = core::run({ip_path(), "-o", "-4", "addr", "show", "dev", kBridge}, kIpTimeout);
  if (ports && ports->exit_code == 0 && ports->output.empty() && addrs && addrs->exit_code == 0 && addrs->output.empty()) {
    (void)ip({"link", "del", kBridge});
  }
  core::log_info("runtime", "node " + node.name + ": removed its network namespace");
  return {};
}

}  // namespace polarstack::runtime::local
