// Local nodes in their own network namespaces, so that a node can be cut off from the
// others as a real machine would be (the partition tests do; so can anyone exploring HA).
//
// A node given an address (`--node n1=20000-20099@10.77.0.2`) lives in the network
// namespace `polarstack-<node>`: its instance managers and PostgreSQL are started inside
// it and listen on that address only. The namespace's `eth0` is one end of a veth pair
// whose other end, `ps-<node>`, is a port of the bridge `polarstack0` in the host
// namespace, which holds the network's .1 address. So nodes reach each other over the
// bridge (plain switching: no IP forwarding is turned on), the control plane reaches them
// from the host namespace, and nothing outside the machine can reach them.
//
//   cut a node off:  ip link set ps-<node> down      heal:  ip link set ps-<node> up
//
// Every node with an address must be in one /24 network (x.y.z.2 .. x.y.z.254). Creating
// namespaces needs root; the commands run are `ip` with argv (no shell).
#pragma once

#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/local/node.h"

namespace polarstack::runtime::local {

inline constexpr const char* kBridge = "polarstack0";

std::string netns_name(const std::string& node);      // polarstack-<node>
std::string netns_path(const std::string& node);      // /run/netns/polarstack-<node>
std::string host_link_name(const std::string& node);  // ps-<node>: the host end of its veth pair
// "x.y.z.0/24" for an address x.y.z.w; empty if it is not a dotted IPv4 address.
std::string network_of(const std::string& address);
// Empty if `address` may be a node's address; else why not (for --node).
std::string check_node_address(const std::string& node, const std::string& address);

// Creates what is missing of the node's namespace, veth pair and the bridge (idempotent;
// safe against a concurrent creator). Needs root.
core::Status ensure_node_network(const Node& node);
// Removes the node's namespace (and with it the veth pair), and the bridge's address for
// its network and the bridge itself once no node uses them. Only what ensure_ made.
core::Status remove_node_network(const Node& node, const std::vector<Node>& all);

}  // namespace polarstack::runtime::local
