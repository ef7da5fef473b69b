// Port allocation for local mode: a registry file (ports.json, under flock) of which port
// belongs to what, so that instances and endpoints never collide, across restarts and
// processes. A port is only handed out if nothing listens on it either.
#pragma once

#include <mutex>
#include <string>

#include "core/error.h"

namespace polarstack::runtime::local {

class PortRegistry {
 public:
  explicit PortRegistry(std::string dir) : dir_(std::move(dir)) {}
  // The lowest free port in [lo, hi] for `owner` (or the one it already holds).
  core::Result<int> allocate(const std::string& owner, int lo, int hi);
  // Takes exactly `port` for `owner`: kConflict when another owner holds it or another
  // program listens on it.
  core::Status claim(const std::string& owner, int port);
  // Frees every port whose owner starts with `owner_prefix`.
  core::Status release(const std::string& owner_prefix);
  // Who holds `port` ("" if nobody).
  std::string owner_of(int port);

 private:
  std::string dir_;
  std::mutex mu_;
};

// True if no TCP socket of this machine uses the port locally (listening, connected or
// lingering in TIME_WAIT) and we could bind 127.0.0.1:port.
bool port_free(int port);
// True if nothing listens on 127.0.0.1:port: a port the user asked for explicitly (our
// own proxy binds it with SO_REUSEADDR even while old connections linger).
bool port_bindable(int port);
// A TCP socket bound to 127.0.0.1:port (SO_REUSEADDR), or -1.
int bind_loopback(int port);
// A TCP connection to 127.0.0.1:port (TCP_NODELAY), or -1.
int connect_loopback(int port);
// A TCP connection to host:port (an IPv4 address; TCP_NODELAY), or -1.
int connect_to(const std::string& host, int port);

}  // namespace polarstack::runtime::local
