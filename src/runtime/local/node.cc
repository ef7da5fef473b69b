#include "runtime/local/node.h"

#include <map>
#include <regex>

#include "runtime/local/netns.h"

namespace polarstack::runtime::local {

using core::Code;

core::Result<Node> parse_node(const std::string& text) {
  static const std::regex re("^([a-z0-9]([-a-z0-9]*[a-z0-9])?)=([0-9]{1,5})-([0-9]{1,5})(@([^:]*))?(:(/.*))?$");
  std::smatch m;
  if (!std::regex_match(text, m, re)) {
    return core::fail(Code::kInvalid, "--node: expected NAME=LOW-HIGH[@ADDRESS][:/root], got \"" + text + "\"");
  }
  Node n{m[1], m[8], std::stoi(m[3]), std::stoi(m[4]), m[6]};
  if (n.port_min < 1024 || n.port_max > 65535 || n.port_min > n.port_max) {
    return core::fail(Code::kInvalid, "--node " + n.name + ": ports must be a range within 1024-65535");
  }
  if (m[5].matched) {
    if (auto why = check_node_address(n.name, n.address); !why.empty()) return core::fail(Code::kInvalid, "--node " + n.name + ": " + why);
  }
  return n;
}

core::Status check_nodes(const std::vector<Node>& nodes) {
  std::string network;
  std::map<std::string, std::string> addresses;
  for (const auto& n : nodes) {
    if (n.address.empty()) continue;
    if (!network.empty() && network_of(n.address) != network) {
      return core::fail(Code::kInvalid, "node " + n.name + ": every node with an address must be in one /24 network (" +
                                            network + "), got " + n.address);
    }
    network = network_of(n.address);
    if (!addresses.emplace(n.address, n.name).second) {
      return core::fail(Code::kInvalid, "nodes " + addresses[n.address] + " and " + n.name + " have the same address " + n.address);
    }
  }
  return {};
}

}  // namespace polarstack::runtime::local
