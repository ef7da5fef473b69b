#include "instance/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace polarstack::instance {

namespace {
constexpr int kIdleMs = 5000;        // a keep-alive connection with nothing to say is closed
constexpr int kHeaderLimit = 16384;  // request line and headers

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}

bool send_all(int fd, const std::string& s) {
  for (size_t off = 0; off < s.size();) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool send_response(int fd, const HttpResponse& r, bool keep_alive) {
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\nContent-Type: " +
                     r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                     "\r\nConnection: " + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
  return send_all(fd, head + r.body);
}

// Reads more bytes into `buf`; false on close, error or idle timeout.
bool fill(int fd, std::string& buf, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r <= 0) return false;
  char tmp[8192];
  ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf.append(tmp, static_cast<size_t>(n));
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}
}  // namespace

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& other = a.size() == b.size() ? b : a;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ other[i]);
  return diff == 0;
}

HttpServer::~HttpServer() { stop(); }

core::Status HttpServer::listen(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::fail(core::Code::kInternal, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    ::close(fd);
    return core::fail(core::Code::kInvalid, "cannot listen on \"" + host + "\": not an IPv4 address");
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    std::string e = std::strerror(errno);
    ::close(fd);
    return core::fail(core::Code::kUnavailable, "cannot listen on " + host + ":" + std::to_string(port) + ": " + e);
  }
  listen_fd_ = fd;
  return {};
}

void HttpServer::serve() {
  while (!stopping_.load()) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (stopping_.load()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // EMFILE and the like: let it drain
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (active_.load() >= kMaxConnections) {
      send_response(fd, {503, R"({"error":"too many connections"})"}, false);
      ::close(fd);
      continue;
    }
    ++active_;
    std::lock_guard<std::mutex> lock(mu_);
    ready_.push_back(fd);
    if (idle_ < ready_.size()) {
      ++threads_;
      std::thread([this] { work(); }).detach();
    }
    cv_.notify_one();
  }
}

void HttpServer::work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    ++idle_;
    bool got = cv_.wait_for(lock, kParkFor, [&] { return stopping_.load() || !ready_.empty(); });
    --idle_;
    if (stopping_.load() || ready_.empty()) {
      if (stopping_.load() || !got) break;
      continue;
    }
    int fd = ready_.front();
    ready_.pop_front();
    lock.unlock();
    handle(fd);
    ::close(fd);
    --active_;
    lock.lock();
  }
  --threads_;
  cv_.notify_all();
}

void HttpServer::stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
  }
  for (int i = 0; i < 100 && active_.load() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // open requests finishing
  }
  std::unique_lock<std::mutex> lock(mu_);
  for (int fd : ready_) ::close(fd);
  active_ -= static_cast<int>(ready_.size());
  ready_.clear();
  cv_.notify_all();
  cv_.wait_for(lock, std::chrono::seconds(1), [&] { return threads_ == 0; });  // parked ones leave at once
}

void HttpServer::handle(int fd) {
  std::string buf;
  while (!stopping_.load()) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > kHeaderLimit) {
        send_response(fd, {400, R"({"error":"request headers too large"})"}, false);
        return;
      }
      if (!fill(fd, buf, kIdleMs)) return;
    }
    HttpRequest req;
    std::string head = buf.substr(0, end);
    buf.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    std::string line = head.substr(0, line_end);
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1 || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
      send_response(fd, {400, R"({"error":"malformed request line"})"}, false);
      return;
    }
    req.method = line.substr(0, sp1);
    req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (size_t at = line_end; at != std::string::npos && at < head.size();) {
      size_t next = head.find("\r\n", at + 2);
      std::string h = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
      size_t colon = h.find(':');
      if (colon != std::string::npos) req.headers[lower(trim(h.substr(0, colon)))] = trim(h.substr(colon + 1));
      at = next;
    }
    if (!req.header("transfer-encoding").empty()) {
      send_response(fd, {411, R"({"error":"send a Content-Length, not a chunked body"})"}, false);
      return;
    }
    size_t length = 0;
    if (std::string cl = req.header("content-length"); !cl.empty()) {
      if (cl.find_first_not_of("0123456789") != std::string::npos || cl.size() > 9) {
        send_response(fd, {400, R"({"error":"bad Content-Length"})"}, false);
        return;
      }
      length = std::stoul(cl);
    }
    if (length > kMaxBody) {
      send_response(fd, {413, R"({"error":"body too large"})"}, false);
      return;
    }
    if (lower(req.header("expect")) == "100-continue" && !send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return;
    while (buf.size() < length) {
      if (!fill(fd, buf, kIdleMs)) return;
    }
    req.body = buf.substr(0, length);
    buf.erase(0, length);
    bool keep_alive = lower(req.header("connection")) != "close";
    HttpResponse res = handler_(req);
    if (!send_response(fd, res, keep_alive) || !keep_alive) return;
  }
}

}  // namespace polarstack::instance
