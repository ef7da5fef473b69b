#include "kube/informer.h"

#include <algorithm>

namespace polarstack::kube {

namespace {
std::string key_of(const Json& o) {
  return core::string_at(o, "metadata.namespace") + "/" + core::string_at(o, "metadata.name");
}

// Sleeps up to `d`, waking early when `stop` is set.
void pause(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}
}  // namespace

void watch_with_relist(Client& client, const ResourceRef& ref, const std::string& ns, const ListOptions& opts,
                       const WatchHandlers& h, const std::atomic<bool>& stop) {
  std::string rv;
  std::chrono::milliseconds backoff(100);
  const std::chrono::milliseconds max_backoff(5000);
  bool need_list = true;
  while (!stop.load()) {
    if (need_list) {
      auto l = client.list(ref, ns, opts);
      if (!l) {
        if (h.on_error) h.on_error(l.error());
        pause(backoff, stop);
        backoff = std::min(backoff * 2, max_backoff);
        continue;
      }
      rv = core::string_at(*l, "metadata.resourceVersion");
      std::vector<Json> items;
      for (auto& i : (*l)["items"]) items.push_back(std::move(i));
      if (h.on_sync) h.on_sync(items, rv);
      need_list = false;
    }
    auto st = client.watch(ref, ns, opts, rv, [&](const WatchEvent& ev) {
      std::string erv = core::string_at(ev.object, "metadata.resourceVersion");
      if (!erv.empty()) rv = erv;
      if (ev.type != "BOOKMARK" && h.on_event) h.on_event(ev);
      backoff = std::chrono::milliseconds(100);
      return !stop.load();
    }, &stop);
    if (stop.load()) break;
    if (!st) {
      if (st.error().code == core::Code::kGone) {
        need_list = true;  // the history we need is gone: start over from a fresh list
        continue;
      }
      if (h.on_error) h.on_error(st.error());
      pause(backoff, stop);
      backoff = std::min(backoff * 2, max_backoff);
    }
    // A stream that simply ended is resumed at once from `rv`.
  }
}

Informer::Informer(Client& client, ResourceRef ref, std::string ns, ListOptions opts)
    : client_(client), ref_(std::move(ref)), ns_(std::move(ns)), opts_(std::move(opts)) {}

Informer::~Informer() { stop(); }

void Informer::start() {
  thread_ = std::thread([this] {
    WatchHandlers h;
    h.on_sync = [this](const std::vector<Json>& items, const std::string& rv) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        cache_.clear();
        for (const auto& i : items) cache_[key_of(i)] = i;
        rv_ = rv;
        if (synced_) relists_++;
        synced_ = true;
      }
      synced_cv_.notify_all();
      if (handler_) for (const auto& i : items) handler_("SYNC", i);
    };
    h.on_event = [this](const WatchEvent& ev) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (ev.type == "DELETED") cache_.erase(key_of(ev.object));
        else cache_[key_of(ev.object)] = ev.object;
        rv_ = core::string_at(ev.object, "metadata.resourceVersion");
      }
      if (handler_) handler_(ev.type, ev.object);
    };
    watch_with_relist(client_, ref_, ns_, opts_, h, stop_);
  });
}

void Informer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool Informer::wait_synced(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return synced_cv_.wait_for(lock, timeout, [&] { return synced_; });
}

std::optional<Json> Informer::get(const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(ns + "/" + name);
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> Informer::list() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Json> out;
  for (const auto& [k, v] : cache_) out.push_back(v);
  return out;
}

std::string Informer::resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rv_;
}

}  // namespace polarstack::kube
