// Local nodes: a name, a directory root and a port range each, and optionally a network
// of their own (an address: runtime/local/netns.h). From `--node` flags, checked as a set.
#pragma once

#include <string>
#include <vector>

#include "core/error.h"

namespace polarstack::runtime::local {

struct Node {
  std::string name;
  std::string root;    // empty: <data_root>/nodes/<name>
  int port_min = 0, port_max = 0;
  std::string address;  // empty: 127.0.0.1 in the host's network; else the node's own network
                        // namespace with this address (runtime/local/netns.h)
  std::string host() const { return address.empty() ? "127.0.0.1" : address; }
};

// Parses "name=lo-hi[@address][:/root]" (a --node flag).
core::Result<Node> parse_node(const std::string& text);
// Nodes with addresses must share one /24 and not repeat an address.
core::Status check_nodes(const std::vector<Node>& nodes);

}  // namespace polarstack::runtime::local
