// The one Kubernetes API client of polarstack, used by polarctl, the operator and the
// CM. It speaks only the public REST API, so it works the same against the embedded
// server and a real kube-apiserver.
//
// Thread-safe: plain requests share one keep-alive connection (serialized); every
// watch opens its own connection. Creating a Client makes the process ignore SIGPIPE.
#pragma once

#include <atomic>
#include <functional>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "core/error.h"
#include "core/json.h"
#include "kube/config.h"

namespace httplib {
class ClientImpl;
}

namespace polarstack::kube {

using core::Json;

// Names one resource type of the API.
struct ResourceRef {
  std::string group;  // "" for core
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = true;

  std::string group_version() const { return group.empty() ? version : group + "/" + version; }
  // "/apis/g/v/namespaces/ns/plural[/name]"; `ns` empty lists across namespaces.
  std::string path(const std::string& ns, const std::string& name = "") const;
};

// Resource types polarstack itself uses.
const ResourceRef& clusters_ref();
const ResourceRef& operations_ref();
const ResourceRef& events_ref();
const ResourceRef& secrets_ref();

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  bool as_table = false;  // watch: objects arrive as one-row meta.k8s.io/v1 Tables
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK
  Json object;
};

enum class PatchKind { kMerge, kJson };

class Client {
 public:
  explicit Client(ClientConfig cfg);
  ~Client();

  const ClientConfig& config() const { return cfg_; }
  // false: each request's connection is closed once it is answered. For a client that
  // calls now and then (a Cluster Manager reading its policy): the server then holds no
  // idle connection for it.
  void set_keep_alive(bool on) { keep_alive_ = on; }

  core::Result<Json> get(const ResourceRef& r, const std::string& ns, const std::string& name);
  core::Result<Json> list(const ResourceRef& r, const std::string& ns, const ListOptions& opts = {});
  core::Result<Json> create(const ResourceRef& r, const std::string& ns, const Json& object);
  core::Result<Json> update(const ResourceRef& r, const std::string& ns, const Json& object);
  core::Result<Json> update_status(const ResourceRef& r, const std::string& ns, const Json& object);
  core::Result<Json> patch(const ResourceRef& r, const std::string& ns, const std::string& name, const Json& patch,
                           PatchKind kind = PatchKind::kMerge, bool status = false);
  core::Result<Json> remove(const ResourceRef& r, const std::string& ns, const std::string& name,
                            const Json& options = Json::object());
  // Any request; `accept` may ask for a Table ("application/json;as=Table;v=v1;g=meta.k8s.io").
  core::Result<Json> request(const std::string& method, const std::string& path_and_query, const std::string& body = "",
                             const std::string& content_type = "application/json",
                             const std::string& accept = "application/json");

  // One watch stream of events after `resource_version` (empty: current objects first).
  // Calls `on_event` for each event until it returns false, the server ends the stream,
  // `stop` becomes true, or `timeout_seconds` pass. kGone when the server no longer has
  // the history asked for (HTTP 410 or an ERROR event with code 410).
  core::Status watch(const ResourceRef& r, const std::string& ns, const ListOptions& opts,
                     const std::string& resource_version, const std::function<bool(const WatchEvent&)>& on_event,
                     const std::atomic<bool>* stop = nullptr, int timeout_seconds = 300);

 private:
  std::unique_ptr<httplib::ClientImpl> connect(int read_timeout_seconds) const;
  core::Result<Json> decode_response(int status, const std::string& body, const std::string& what) const;
  core::Error transport_error(const std::string& what) const;

  ClientConfig cfg_;
  std::mutex mu_;
  std::unique_ptr<httplib::ClientImpl> http_;
  // When http_ last finished a request. A connection idle for longer than kIdleReuse is
  // not reused: the server may have closed it (polarstack's own closes idle ones after
  // 2 s), and a request written into a closed connection fails (a Cluster Manager's
  // status patch right after a failover did, leaving the endpoint on the old route).
  std::chrono::steady_clock::time_point last_used_{};
  bool keep_alive_ = true;
};

// Percent-encodes a query parameter value.
std::string url_encode(const std::string& s);

}  // namespace polarstack::kube
