// The endpoints proxy of one cluster in local mode (`polarstack proxy --dir <dir>`):
// listens on 127.0.0.1 on the cluster's read-write and read-only ports and relays each
// connection to the primary (read-write) or to the next ready reader, round robin
// (read-only; the primary when no reader is ready). Routing follows the cluster's status
// (status.instances), watched through the API; while the API is unreachable the last
// known routes stay in force. <dir>/proxy.json holds the ports, the cluster and the
// kubeconfig to use.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/json.h"

namespace polarstack::runtime::local {

struct Routes {
  int primary_port = 0;            // 0: no ready primary (connections are refused)
  std::vector<int> reader_ports;   // ready readers
  // The address of each target above that is not on 127.0.0.1 (an instance on a node of
  // its own network, runtime/local/netns.h); ports are unique on the machine.
  std::map<int, std::string> hosts;
  std::string host_of(int port) const {
    auto it = hosts.find(port);
    return it == hosts.end() ? "127.0.0.1" : it->second;
  }
  bool operator==(const Routes&) const = default;
};

// The routes a cluster object's status implies.
Routes routes_from_status(const core::Json& cluster);

int run_proxy(const std::string& dir);

}  // namespace polarstack::runtime::local
