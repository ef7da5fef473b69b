// Calls to the instance API of the local runtime's instances, cheap enough to run every
// few hundred milliseconds for every instance of many clusters:
// - where an instance listens (instance.json) and the cluster's token are read again only
//   when their files change (FileCache: one stat each per call);
// - HTTP connections are kept alive and reused (the instance manager keeps an idle one
//   open for 5 s: one idle for more than kReuseWithin is not reused, so a request never
//   races the manager closing it). One older than kMaxAge is not reused either: a
//   connection kept for ever would hide what new ones meet (a stale redirect hijacking the
//   manager's port, a firewall rule), so the path is proven again every kMaxAge.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/local/file_cache.h"

namespace httplib {
class Client;
}

namespace polarstack::runtime::local {

struct ApiCall {
  std::string method = "GET", path, body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{5000};
};

class InstanceClient {
 public:
  explicit InstanceClient(FileCache& files);
  ~InstanceClient();
  // `dir`: the instance's directory; `token_file`: its cluster's token. Returns the
  // answer's body on 200; kUnavailable when nobody answers; kConflict on 409.
  core::Result<std::string> call(const std::string& dir, const std::string& token_file, const std::string& name,
                                 const ApiCall& call);
  // Connections opened so far (for tests and benchmarks).
  int64_t connections_opened() const { return opened_; }

  static constexpr auto kReuseWithin = std::chrono::seconds(3);
  static constexpr auto kMaxAge = std::chrono::seconds(10);

 private:
  struct Idle {
    std::unique_ptr<httplib::Client> client;
    std::chrono::steady_clock::time_point since, opened;
  };
  struct Target {
    std::string host;
    int port = 0;
    std::vector<Idle> idle;  // kept-alive connections not in use
  };
  core::Result<std::pair<std::string, int>> target(const std::string& dir);

  FileCache& files_;
  std::mutex mu_;
  std::map<std::string, Target> targets_;  // by instance directory
  int64_t opened_ = 0;
};

}  // namespace polarstack::runtime::local
