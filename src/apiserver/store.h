// The API server's storage: a revisioned key-value store of JSON objects.
//
// Every write gets the next revision of one monotonic counter and is acknowledged only
// after it is durable (SQLite in WAL mode, fsync on commit). Writes that arrive while a
// commit is in flight are committed together in the next transaction (group commit), so
// throughput grows with concurrent writers while each write still waits for its fsync.
// Reads are served from memory and never return a write that is not yet durable.
// A bounded history of recent events (by count and by bytes; kept in SQLite too, so it
// survives restarts) feeds watches; a watch that starts before the oldest kept event gets kGone (HTTP 410).
//
// Thread-safe. A failed commit aborts the process: nothing unacknowledged is reported as
// written, and a restart serves exactly what was committed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/json.h"

struct sqlite3;

namespace polarstack::apiserver {

using core::Json;
using Labels = std::map<std::string, std::string>;

enum class EventType { kAdded, kModified, kDeleted };
const char* event_type_name(EventType t);

// One stored object version. `data` is the serialized JSON with metadata.resourceVersion set.
struct StoredObject {
  int64_t rev = 0;
  std::shared_ptr<const std::string> data;
  std::shared_ptr<const Labels> labels;  // never null
};

struct Event {
  EventType type = EventType::kAdded;
  std::string key;
  StoredObject object;  // for kDeleted: the last state, at the deletion's revision
};

// The queue of one watch stream. Filled by the store's committer, drained by the
// stream's own thread. Closed when the store stops or the consumer falls too far behind.
class Watcher {
 public:
  explicit Watcher(std::string prefix) : prefix_(std::move(prefix)) {}
  // Waits up to `timeout` for events, appends them to `out`. Returns false once closed
  // and drained.
  bool next(std::vector<Event>& out, std::chrono::milliseconds timeout);
  void close();
  const std::string& prefix() const { return prefix_; }

 private:
  friend class Store;
  void push(const Event& e, size_t limit);
  std::string prefix_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  bool closed_ = false;
};

class Store {
 public:
  struct Options {
    std::string path;              // SQLite database file
    size_t history = 10000;        // events kept for watches, at most
    size_t history_bytes = 1 << 20;  // and at most this much of their objects' JSON (memory)
    size_t watcher_queue_limit = 100000;
  };

  // What a mutation wants: put `value`, delete the object, leave it as it is (no new
  // revision, no event), or fail with an error.
  struct Change {
    enum class Kind { kPut, kDelete, kNone } kind = Kind::kPut;
    Json value;  // kPut: the new object; kDelete: the final state to report (optional)
  };
  // Called with the current object (nullptr if absent) and the revision the write will get.
  using Mutation = std::function<core::Result<Change>(const Json* current, int64_t rev)>;

  static core::Result<std::unique_ptr<Store>> open(const Options& opts);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  core::Result<StoredObject> get(const std::string& key);
  // Objects whose key starts with `prefix`, in key order, and the revision they are current at.
  std::vector<std::pair<std::string, StoredObject>> list(const std::string& prefix, int64_t* rev);
  // Applies `fn` atomically to `key` and waits until the result is durable.
  core::Result<Event> apply(const std::string& key, const Mutation& fn);
  // Events for keys under `prefix` with revision > `after`. kGone if some were compacted.
  core::Result<std::shared_ptr<Watcher>> watch(const std::string& prefix, int64_t after);
  void unwatch(const std::shared_ptr<Watcher>& w);

  int64_t revision();          // latest durable revision
  int64_t compacted_revision();  // events at or below this are no longer kept

 private:
  explicit Store(const Options& opts);
  core::Status load();
  void commit_loop();
  void checkpoint_loop();
  core::Status commit_batch(const std::vector<Event>& batch);
  void push_history(Event e);  // under watch_mu_: appended, the oldest dropped past the bounds
  void wait_durable(std::unique_lock<std::mutex>& lock, int64_t rev);

  Options opts_;
  sqlite3* db_ = nullptr;

  // Objects and revisions. `next_rev_` is handed to writers; `durable_rev_` trails it.
  std::mutex mu_;
  std::condition_variable durable_cv_;
  std::condition_variable pending_cv_;
  std::map<std::string, StoredObject> objects_;
  std::vector<Event> pending_;
  int64_t next_rev_ = 0;
  std::atomic<int64_t> durable_rev_{0};  // written under mu_; revision() reads it without
  bool stopping_ = false;

  // History and watchers: only durable events, in revision order.
  std::mutex watch_mu_;
  std::deque<Event> history_;
  size_t history_bytes_ = 0;  // of history_'s objects' JSON
  int64_t compacted_rev_ = 0;
  int64_t compacted_on_disk_ = 0;
  std::vector<std::shared_ptr<Watcher>> watchers_;

  std::thread committer_;
  // WAL checkpoints run on their own connection and thread, off the commit path.
  sqlite3* checkpoint_db_ = nullptr;
  std::thread checkpointer_;
  std::condition_variable checkpoint_cv_;
};

}  // namespace polarstack::apiserver
