// A small HTTP/1.1 server for the instance API: requests with Content-Length bodies (no
// chunked encoding), keep-alive, one thread per connection up to a limit; a thread whose
// connection closed waits kParkFor for the next one, so clients that reconnect now and
// then (every 10 s: runtime/local/instance_client.h) cost no thread creation. It replaces
// cpp-httplib in the instance manager, which with its TLS build costs ~4 MB of resident
// memory per process; the API is loopback-only and token-authenticated by the caller.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "core/error.h"

namespace polarstack::instance {

struct HttpRequest {
  std::string method, path, body;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  explicit HttpServer(HttpHandler handler) : handler_(std::move(handler)) {}
  ~HttpServer();
  // Binds and listens on host:port (an IPv4 address: 127.0.0.1, or a node's own).
  core::Status listen(const std::string& host, int port);
  // Accepts until stop(); each connection on a thread of its own while it is open.
  void serve();
  // Stops accepting; waits up to a second for open requests to finish.
  void stop();

  static constexpr size_t kMaxBody = 1 << 20;
  static constexpr int kMaxConnections = 16;
  static constexpr auto kParkFor = std::chrono::seconds(60);

 private:
  void handle(int fd);
  void work();  // serves the connections handed to it, parked in between
  HttpHandler handler_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> ready_;  // accepted, waiting for a thread
  size_t idle_ = 0, threads_ = 0;
};

// Compares two secrets in time independent of where they differ.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace polarstack::instance
