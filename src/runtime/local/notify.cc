#include "runtime/local/notify.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "runtime/local/netns.h"

namespace polarstack::runtime::local {

NotifySockets::~NotifySockets() {
  for (int fd : fds_) ::close(fd);
}

std::string NotifySockets::bind_on(const std::string& ip) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  socklen_t len = sizeof a;
  if (fd < 0 || ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return "";
  }
  fds_.push_back(fd);
  return ip + ":" + std::to_string(ntohs(a.sin_port));
}

void NotifySockets::open(const std::vector<Node>& nodes) {
  to_["127.0.0.1"] = bind_on("127.0.0.1");
  std::map<std::string, std::string> bridges;  // network -> ip:port
  for (const auto& n : nodes) {
    if (n.address.empty()) continue;
    std::string net = network_of(n.address);
    if (net.empty()) continue;
    if (!bridges.count(net)) bridges[net] = bind_on(net.substr(0, net.rfind('.')) + ".1");
    to_[n.address] = bridges[net];
  }
}

std::string NotifySockets::address_for(const std::string& host) const {
  auto it = to_.find(host);
  return it == to_.end() ? "" : it->second;
}

bool NotifySockets::wait(std::chrono::milliseconds timeout) {
  std::vector<pollfd> fds;
  for (int fd : fds_) fds.push_back({fd, POLLIN, 0});
  if (fds.empty()) {
    std::this_thread::sleep_for(timeout);
    return false;
  }
  if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, timeout.count()))) <= 0) return false;
  char buf[512];
  for (int fd : fds_) {
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
  }
  return true;
}

}  // namespace polarstack::runtime::local
