// Where instance managers push word to the Cluster Manager (Runtime::wait_instance_event):
// UDP sockets, one on 127.0.0.1 and one on the bridge's address of each node network
// (runtime/local/netns.h), so that a manager inside a node's namespace can reach it. A
// datagram is only a hint (anyone local could send one): the CM probes on receipt.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "runtime/local/node.h"

namespace polarstack::runtime::local {

class NotifySockets {
 public:
  NotifySockets() = default;
  NotifySockets(const NotifySockets&) = delete;
  NotifySockets& operator=(const NotifySockets&) = delete;
  ~NotifySockets();
  // Binds what `nodes` need; a socket that cannot be bound (the bridge is not up) is left
  // out, and the instances behind it are heard of by probes alone.
  void open(const std::vector<Node>& nodes);
  // "ip:port" an instance listening on `host` sends to; empty if none.
  std::string address_for(const std::string& host) const;
  // Waits up to `timeout` for a datagram on any socket, then drains them all; true if
  // one came.
  bool wait(std::chrono::milliseconds timeout);

 private:
  std::string bind_on(const std::string& ip);
  std::vector<int> fds_;
  std::map<std::string, std::string> to_;  // instance host -> ip:port
};

}  // namespace polarstack::runtime::local
