#include "runtime/local/ports.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/files.h"
#include "core/json.h"
#include "runtime/local/redirect.h"

namespace polarstack::runtime::local {

namespace {
// Holds the registry's file lock (between processes) for a scope.

core::Json load(const std::string& path) {
  auto text = core::read_file(path);
  if (!text) return core::Json::object();
  auto j = core::parse_json(*text);
  return j && j->is_object() ? *j : core::Json::object();
}
}  // namespace

namespace {
sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}
}  // namespace

int bind_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

namespace {
int connect_addr(const sockaddr_in& addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}
}  // namespace

int connect_loopback(int port) { return connect_addr(loopback(port)); }

int connect_to(const std::string& host, int port) {
  sockaddr_in addr = loopback(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return -1;
  return connect_addr(addr);
}

std::set<int> local_ports_in_use() {
  std::set<int> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // "  sl  local_address rem_address st ...": local_address is ADDR:PORT in hex.
      std::istringstream fields(line);
      std::string sl, local;
      if (!(fields >> sl >> local)) continue;
      auto colon = local.rfind(':');
      if (colon != std::string::npos) out.insert(static_cast<int>(std::stoul(local.substr(colon + 1), nullptr, 16)));
    }
  }
  return out;
}

bool port_free(int port) {
  // Connections of a former owner linger (TIME_WAIT) and can make a later bind fail with
  // EADDRINUSE for up to a minute, depending on the binder's socket options and uid:
  // such a port is not free yet.
  return !local_ports_in_use().count(port) && port_bindable(port);
}

bool port_bindable(int port) {
  int fd = bind_loopback(port);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

core::Result<int> PortRegistry::allocate(const std::string& owner, int lo, int hi) {
  std::lock_guard<std::mutex> guard(mu_);
  core::FileLock lock(dir_ + "/ports.lock");
  if (!lock.ok()) return core::fail(core::Code::kInternal, "cannot lock " + dir_ + "/ports.lock");
  core::Json reg = load(dir_ + "/ports.json");
  for (auto& [port, who] : reg.items()) {
    if (who == owner) return std::stoi(port);
  }
  auto busy = local_ports_in_use();
  // A port that some polarstack redirect rule names (a live proxy of another data root,
  // or a dead one's table that could not be swept) would send its connections elsewhere.
  auto redirected = redirected_ports();
  for (int p = lo; p <= hi; ++p) {
    if (reg.contains(std::to_string(p)) || busy.count(p) || redirected.count(p) || !port_bindable(p)) continue;
    reg[std::to_string(p)] = owner;
    if (auto st = core::write_file_atomic(dir_ + "/ports.json", reg.dump(1)); !st) return std::unexpected(st.error());
    return p;
  }
  return core::fail(core::Code::kUnavailable,
                    "no free port left in " + std::to_string(lo) + "-" + std::to_string(hi) + " for " + owner);
}

core::Status PortRegistry::claim(const std::string& owner, int port) {
  std::lock_guard<std::mutex> guard(mu_);
  core::FileLock lock(dir_ + "/ports.lock");
  if (!lock.ok()) return core::fail(core::Code::kInternal, "cannot lock " + dir_ + "/ports.lock");
  core::Json reg = load(dir_ + "/ports.json");
  std::string key = std::to_string(port);
  if (reg.contains(key)) {
    if (reg[key] == owner) return {};
    return core::fail(core::Code::kConflict, "port " + key + " is already used by " + reg[key].get<std::string>());
  }
  if (!port_bindable(port)) return core::fail(core::Code::kConflict, "port " + key + " is in use on 127.0.0.1 by another program");
  reg[key] = owner;
  return core::write_file_atomic(dir_ + "/ports.json", reg.dump(1));
}

core::Status PortRegistry::release(const std::string& owner_prefix) {
  std::lock_guard<std::mutex> guard(mu_);
  core::FileLock lock(dir_ + "/ports.lock");
  if (!lock.ok()) return core::fail(core::Code::kInternal, "cannot lock " + dir_ + "/ports.lock");
  core::Json reg = load(dir_ + "/ports.json");
  core::Json kept = core::Json::object();
  for (auto& [port, who] : reg.items()) {
    if (who.get<std::string>().rfind(owner_prefix, 0) != 0) kept[port] = who;
  }
  if (kept.size() == reg.size()) return {};
  return core::write_file_atomic(dir_ + "/ports.json", kept.dump(1));
}

std::string PortRegistry::owner_of(int port) {
  std::lock_guard<std::mutex> guard(mu_);
  core::FileLock lock(dir_ + "/ports.lock");
  core::Json reg = load(dir_ + "/ports.json");
  std::string key = std::to_string(port);
  return reg.contains(key) ? reg[key].get<std::string>() : "";
}

}  // namespace polarstack::runtime::local
