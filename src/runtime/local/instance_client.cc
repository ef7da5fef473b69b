#include "runtime/local/instance_client.h"

#include <httplib.h>

#include "core/json.h"

namespace polarstack::runtime::local {

using core::Code;
using Clock = std::chrono::steady_clock;

namespace {
constexpr size_t kIdlePerTarget = 4;
}  // namespace

InstanceClient::InstanceClient(FileCache& files) : files_(files) {}
InstanceClient::~InstanceClient() = default;

core::Result<std::pair<std::string, int>> InstanceClient::target(const std::string& dir) {
  auto cfg = files_.config(dir);
  if (!cfg) return std::unexpected(cfg.error());
  std::lock_guard<std::mutex> lock(mu_);
  auto& t = targets_[dir];
  if (t.host != cfg->host || t.port != cfg->api_port) t.idle.clear();  // it moved: old connections go
  t.host = cfg->host;
  t.port = cfg->api_port;
  return std::pair{t.host, t.port};
}

core::Result<std::string> InstanceClient::call(const std::string& dir, const std::string& token_file,
                                               const std::string& name, const ApiCall& c) {
  auto where = target(dir);
  if (!where) return std::unexpected(where.error());
  auto tok = files_.secret(token_file);
  if (!tok) return core::fail(tok.error().code, "cannot read the cluster's token: " + tok.error().message);
  std::unique_ptr<httplib::Client> cli;
  Clock::time_point opened = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& idle = targets_[dir].idle;
    while (!idle.empty() && !cli) {
      Idle i = std::move(idle.back());
      idle.pop_back();
      auto now = Clock::now();
      if (now - i.since < kReuseWithin && now - i.opened < kMaxAge) {
        cli = std::move(i.client);
        opened = i.opened;
      }
    }
  }
  if (!cli) {
    cli = std::make_unique<httplib::Client>(where->first, where->second);
    cli->set_keep_alive(true);
    // A request with a body goes out in two writes (headers, then body): with Nagle's
    // algorithm the body waited for the manager's delayed ACK, 40 ms per call, four of
    // them on a failover's path (fence, synchronous standbys, follow, promote).
    cli->set_tcp_nodelay(true);
    std::lock_guard<std::mutex> lock(mu_);
    ++opened_;
  }
  auto connect = std::min<std::chrono::milliseconds>(c.timeout, std::chrono::seconds(2));
  cli->set_connection_timeout(connect.count() / 1000, (connect.count() % 1000) * 1000);
  cli->set_read_timeout(c.timeout.count() / 1000, (c.timeout.count() % 1000) * 1000);
  cli->set_write_timeout(c.timeout.count() / 1000, (c.timeout.count() % 1000) * 1000);
  httplib::Headers h{{"Authorization", "Bearer " + *tok}};
  for (const auto& [k, v] : c.headers) h.emplace(k, v);
  httplib::Result r = c.method == "GET"      ? cli->Get(c.path, h)
                      : c.method == "PUT"    ? cli->Put(c.path, h, c.body, "application/json")
                      : c.method == "DELETE" ? cli->Delete(c.path, h)
                                             : cli->Post(c.path, h, c.body, "application/json");
  if (!r) {
    return core::fail(Code::kUnavailable,
                      "instance manager of " + name + " is not answering (" + httplib::to_string(r.error()) + ")");
  }
  if (cli->is_socket_open()) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& idle = targets_[dir].idle;
    if (idle.size() < kIdlePerTarget) idle.push_back({std::move(cli), Clock::now(), opened});
  }
  if (r->status != 200) {
    auto j = core::parse_json(r->body);
    std::string msg = j && j->is_object() ? j->value("error", r->body) : r->body;
    return core::fail(r->status == 409 ? Code::kConflict : Code::kInternal, name + ": " + msg);
  }
  return r->body;
}

}  // namespace polarstack::runtime::local
