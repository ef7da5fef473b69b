// Watching that never misses a change: list, then watch from the list's revision; when a
// stream ends, resume from the last revision seen; when the server answers 410 Gone,
// list again (relist) and carry on. The Informer keeps the result in a local cache that
// controllers read instead of asking the server.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kube/client.h"

namespace polarstack::kube {

struct WatchHandlers {
  // The complete current set, after every (re)list.
  std::function<void(const std::vector<Json>& items, const std::string& resource_version)> on_sync;
  // Each change after the last sync, in order. BOOKMARKs are not passed on.
  std::function<void(const WatchEvent& ev)> on_event;
  // A failed list or watch (it is retried with backoff).
  std::function<void(const core::Error& err)> on_error;
};

// Runs until `stop` becomes true.
void watch_with_relist(Client& client, const ResourceRef& ref, const std::string& ns, const ListOptions& opts,
                       const WatchHandlers& handlers, const std::atomic<bool>& stop);

class Informer {
 public:
  using Handler = std::function<void(const std::string& type, const Json& object)>;

  Informer(Client& client, ResourceRef ref, std::string ns, ListOptions opts = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // REQUIRES: before start(). Called from the informer's thread for each change, and with
  // type "SYNC" for every object after a (re)list.
  void on_change(Handler h) { handler_ = std::move(h); }
  void start();
  void stop();
  bool wait_synced(std::chrono::milliseconds timeout);

  std::optional<Json> get(const std::string& ns, const std::string& name) const;
  std::vector<Json> list() const;
  std::string resource_version() const;
  int relists() const { return relists_.load(); }

 private:
  Client& client_;
  ResourceRef ref_;
  std::string ns_;
  ListOptions opts_;
  Handler handler_;
  std::atomic<bool> stop_{false};
  std::atomic<int> relists_{0};
  mutable std::mutex mu_;
  std::condition_variable synced_cv_;
  bool synced_ = false;
  std::map<std::string, Json> cache_;  // "ns/name" -> object
  std::string rv_;
  std::thread thread_;
};

}  // namespace polarstack::kube
