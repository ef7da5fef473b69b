#include "apiserver/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>

#include "core/log.h"

namespace polarstack::apiserver {

using core::Code;
using core::fail;

const char* event_type_name(EventType t) {
  switch (t) {
    case EventType::kAdded: return "ADDED";
    case EventType::kModified: return "MODIFIED";
    case EventType::kDeleted: return "DELETED";
  }
  return "ERROR";
}

namespace {

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK) st_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return st_ != nullptr; }
  sqlite3_stmt* get() { return st_; }
  void bind(int i, int64_t v) { sqlite3_bind_int64(st_, i, v); }
  void bind(int i, const std::string& s) { sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC); }
  int step() { return sqlite3_step(st_); }
  void reset() { sqlite3_reset(st_); sqlite3_clear_bindings(st_); }
  int64_t i64(int col) { return sqlite3_column_int64(st_, col); }
  std::string text(int col) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, col))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

core::Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return fail(Code::kInternal, std::string("sqlite: ") + msg + " in: " + sql);
  }
  return {};
}

std::shared_ptr<const Labels> labels_of(const Json& obj) {
  auto l = std::make_shared<Labels>();
  if (const Json* m = core::find_path(obj, "metadata.labels"); m && m->is_object()) {
    for (auto it = m->begin(); it != m->end(); ++it) {
      if (it->is_string()) l->emplace(it.key(), it->get<std::string>());
    }
  }
  return l;
}

StoredObject make_object(int64_t rev, const Json& obj) {
  return StoredObject{rev, std::make_shared<const std::string>(obj.dump()), labels_of(obj)};
}

}  // namespace

// ---------------------------------------------------------------------------------------
bool Watcher::next(std::vector<Event>& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || closed_; });
  while (!queue_.empty()) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return !(closed_ && out.empty());
}

void Watcher::close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

void Watcher::push(const Event& e, size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  if (queue_.size() >= limit) {
    // The consumer is too slow: end its stream; it resumes from its last revision.
    queue_.clear();
    closed_ = true;
  } else {
    queue_.push_back(e);
  }
  cv_.notify_all();
}

// ---------------------------------------------------------------------------------------
Store::Store(const Options& opts) : opts_(opts) {}

// A burst of writes can grow the WAL; once checkpointed it shrinks back to 8 MiB (set on
// both connections: whichever resets the WAL truncates it).
constexpr const char* kJournalSizeLimit = "PRAGMA journal_size_limit=8388608";

core::Result<std::unique_ptr<Store>> Store::open(const Options& opts) {
  std::unique_ptr<Store> s(new Store(opts));
  if (sqlite3_open_v2(opts.path.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return fail(Code::kInternal, "cannot open " + opts.path + ": " + sqlite3_errmsg(s->db_));
  }
  for (const char* sql : {
           "PRAGMA journal_mode=WAL",
           "PRAGMA synchronous=FULL",  // fsync the WAL at every commit: acknowledged means durable
           "PRAGMA wal_autocheckpoint=0",  // checkpoints run in checkpoint_loop()
           kJournalSizeLimit,
           "PRAGMA foreign_keys=OFF",
           "CREATE TABLE IF NOT EXISTS objects(key TEXT PRIMARY KEY, rev INTEGER NOT NULL, data TEXT NOT NULL) "
           "WITHOUT ROWID",
           "CREATE TABLE IF NOT EXISTS log(rev INTEGER PRIMARY KEY, type INTEGER NOT NULL, key TEXT NOT NULL, "
           "data TEXT NOT NULL)",
           "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
       }) {
    if (auto st = exec(s->db_, sql); !st) return fail(st.error());
  }
  if (auto st = s->load(); !st) return fail(st.error());
  if (sqlite3_open_v2(opts.path.c_str(), &s->checkpoint_db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    return fail(Code::kInternal, "cannot open " + opts.path + " for checkpoints");
  }
  // A checkpoint copies pages from the WAL to the database file without caching them.
  if (auto st = exec(s->checkpoint_db_, "PRAGMA cache_size=-128"); !st) return fail(st.error());
  if (auto st = exec(s->checkpoint_db_, kJournalSizeLimit); !st) return fail(st.error());
  s->committer_ = std::thread([p = s.get()] { p->commit_loop(); });
  s->checkpointer_ = std::thread([p = s.get()] { p->checkpoint_loop(); });
  return s;
}

Store::~Store() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    pending_cv_.notify_all();
  }
  checkpoint_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
  sqlite3_close(checkpoint_db_);
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    for (auto& w : watchers_) w->close();
    watchers_.clear();
  }
  sqlite3_close(db_);
}

core::Status Store::load() {
  int64_t rev = 0;
  {
    Stmt st(db_, "SELECT k, v FROM meta");
    while (st.step() == SQLITE_ROW) {
      if (st.text(0) == "revision") rev = std::max(rev, st.i64(1));
      if (st.text(0) == "compacted") compacted_rev_ = st.i64(1);
    }
  }
  {
    Stmt st(db_, "SELECT key, rev, data FROM objects");
    while (st.step() == SQLITE_ROW) {
      auto parsed = core::parse_json(st.text(2));
      if (!parsed) return fail(Code::kInternal, "corrupt object " + st.text(0) + " in " + opts_.path);
      objects_.emplace(st.text(0), StoredObject{st.i64(1), std::make_shared<const std::string>(st.text(2)),
                                                labels_of(*parsed)});
      rev = std::max(rev, st.i64(1));
    }
  }
  {
    Stmt st(db_, "SELECT rev, type, key, data FROM log WHERE rev > ? ORDER BY rev");
    st.bind(1, compacted_rev_);
    while (st.step() == SQLITE_ROW) {
      Event e{static_cast<EventType>(st.i64(1)), st.text(2), {}};
      // The newest version of a live object is the one in objects_: shared, not copied.
      if (auto it = objects_.find(e.key); it != objects_.end() && it->second.rev == st.i64(0) && e.type != EventType::kDeleted) {
        e.object = it->second;
      } else {
        auto parsed = core::parse_json(st.text(3));
        if (!parsed) return fail(Code::kInternal, "corrupt log entry in " + opts_.path);
        e.object = StoredObject{st.i64(0), std::make_shared<const std::string>(st.text(3)), labels_of(*parsed)};
      }
      rev = std::max(rev, e.object.rev);
      push_history(std::move(e));
    }
  }
  compacted_on_disk_ = compacted_rev_;
  next_rev_ = rev;
  durable_rev_ = rev;
  return {};
}

void Store::push_history(Event e) {
  auto size_of = [](const Event& x) { return x.object.data ? x.object.data->size() : 0; };
  history_bytes_ += size_of(e);
  history_.push_back(std::move(e));
  // The newest event always stays (a watch from the latest revision needs no history).
  while (history_.size() > 1 && (history_.size() > opts_.history || history_bytes_ > opts_.history_bytes)) {
    history_bytes_ -= size_of(history_.front());
    compacted_rev_ = history_.front().object.rev;
    history_.pop_front();
  }
}

void Store::wait_durable(std::unique_lock<std::mutex>& lock, int64_t rev) {
  durable_cv_.wait(lock, [&] { return durable_rev_ >= rev; });
}

core::Result<StoredObject> Store::get(const std::string& key) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return fail(Code::kNotFound, "not found");
  StoredObject obj = it->second;
  wait_durable(lock, obj.rev);
  return obj;
}

std::vector<std::pair<std::string, StoredObject>> Store::list(const std::string& prefix, int64_t* rev) {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, StoredObject>> out;
  for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.starts_with(prefix); ++it) {
    out.emplace_back(it->first, it->second);
  }
  int64_t at = next_rev_;
  wait_durable(lock, at);
  if (rev) *rev = at;
  return out;
}

core::Result<Event> Store::apply(const std::string& key, const Mutation& fn) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return fail(Code::kUnavailable, "the store is shutting down");
  auto it = objects_.find(key);
  std::optional<Json> current;
  if (it != objects_.end()) {
    auto parsed = core::parse_json(*it->second.data);
    if (!parsed) return fail(Code::kInternal, "corrupt stored object " + key);
    current = std::move(*parsed);
  }
  int64_t rev = next_rev_ + 1;
  auto change = fn(current ? &*current : nullptr, rev);
  if (!change) return fail(change.error());
  Event ev;
  ev.key = key;
  if (change->kind == Change::Kind::kNone) {
    if (it == objects_.end()) return fail(Code::kNotFound, "not found");
    ev.type = EventType::kModified;
    ev.object = it->second;
    wait_durable(lock, ev.object.rev);
    return ev;
  }
  if (change->kind == Change::Kind::kDelete) {
    if (!current) return fail(Code::kNotFound, "not found");
    if (!change->value.is_null()) current = std::move(change->value);  // the final state, if given
    (*current)["metadata"]["resourceVersion"] = std::to_string(rev);
    ev.type = EventType::kDeleted;
    ev.object = make_object(rev, *current);
    objects_.erase(it);
  } else {
    change->value["metadata"]["resourceVersion"] = std::to_string(rev);
    ev.type = current ? EventType::kModified : EventType::kAdded;
    ev.object = make_object(rev, change->value);
    objects_[key] = ev.object;
  }
  next_rev_ = rev;
  pending_.push_back(ev);
  pending_cv_.notify_one();
  wait_durable(lock, rev);
  return ev;
}

void Store::checkpoint_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  int64_t checkpointed = -1;  // the durable revision at the last checkpoint
  while (!stopping_) {
    checkpoint_cv_.wait_for(lock, std::chrono::milliseconds(500));
    if (stopping_) break;
    if (durable_rev_ == checkpointed) continue;  // nothing written since: nothing to copy
    checkpointed = durable_rev_;
    lock.unlock();
    // PASSIVE never blocks the committer; frames it cannot copy yet wait for the next round.
    sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.lock();
  }
}

void Store::commit_loop() {
  std::vector<Event> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      pending_cv_.wait(lock, [&] { return !pending_.empty() || stopping_; });
      if (pending_.empty() && stopping_) return;
      batch.swap(pending_);
    }
    if (auto st = commit_batch(batch); !st) {
      core::log_error("store", "commit failed, stopping to protect acknowledged data: " + st.error().message);
      std::abort();
    }
    int64_t last = batch.back().object.rev;
    {
      // History first, then durability: any revision a client has seen is in history.
      std::lock_guard<std::mutex> lock(watch_mu_);
      for (const auto& e : batch) {
        push_history(e);
        for (auto& w : watchers_) {
          if (e.key.starts_with(w->prefix())) w->push(e, opts_.watcher_queue_limit);
        }
      }
      watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                     [](const std::shared_ptr<Watcher>& w) {
                                       std::lock_guard<std::mutex> l(w->mu_);
                                       return w->closed_;
                                     }),
                      watchers_.end());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      durable_rev_ = last;
      durable_cv_.notify_all();
    }
    batch.clear();
  }
}

core::Status Store::commit_batch(const std::vector<Event>& batch) {
  if (auto st = exec(db_, "BEGIN IMMEDIATE"); !st) return st;
  Stmt put(db_, "INSERT OR REPLACE INTO objects(key, rev, data) VALUES(?, ?, ?)");
  Stmt del(db_, "DELETE FROM objects WHERE key = ?");
  Stmt log(db_, "INSERT INTO log(rev, type, key, data) VALUES(?, ?, ?, ?)");
  Stmt meta(db_, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)");
  if (!put.ok() || !del.ok() || !log.ok() || !meta.ok()) {
    exec(db_, "ROLLBACK");
    return fail(Code::kInternal, std::string("prepare: ") + sqlite3_errmsg(db_));
  }
  for (const auto& e : batch) {
    int rc;
    if (e.type == EventType::kDeleted) {
      del.bind(1, e.key);
      rc = del.step();
      del.reset();
    } else {
      put.bind(1, e.key);
      put.bind(2, e.object.rev);
      put.bind(3, *e.object.data);
      rc = put.step();
      put.reset();
    }
    log.bind(1, e.object.rev);
    log.bind(2, static_cast<int64_t>(e.type));
    log.bind(3, e.key);
    log.bind(4, *e.object.data);
    int rc2 = log.step();
    log.reset();
    if (rc != SQLITE_DONE || rc2 != SQLITE_DONE) {
      std::string msg = sqlite3_errmsg(db_);
      exec(db_, "ROLLBACK");
      return fail(Code::kInternal, "write: " + msg);
    }
  }
  std::string k = "revision";
  meta.bind(1, k);
  meta.bind(2, batch.back().object.rev);
  meta.step();
  meta.reset();
  // Trim the on-disk history in steps, not on every commit.
  int64_t compacted;
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    compacted = compacted_rev_;
  }
  if (compacted - compacted_on_disk_ >= 1000) {
    Stmt trim(db_, "DELETE FROM log WHERE rev <= ?");
    trim.bind(1, compacted);
    trim.step();
    std::string c = "compacted";
    meta.bind(1, c);
    meta.bind(2, compacted);
    meta.step();
    meta.reset();
    compacted_on_disk_ = compacted;
  }
  if (auto st = exec(db_, "COMMIT"); !st) {
    exec(db_, "ROLLBACK");
    return st;
  }
  return {};
}

core::Result<std::shared_ptr<Watcher>> Store::watch(const std::string& prefix, int64_t after) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  if (after < compacted_rev_) {
    return fail(Code::kGone, "too old resource version: " + std::to_string(after) + " (" +
                                 std::to_string(compacted_rev_ + 1) + ")");
  }
  auto w = std::make_shared<Watcher>(prefix);
  auto start = std::lower_bound(history_.begin(), history_.end(), after + 1,
                                [](const Event& e, int64_t r) { return e.object.rev < r; });
  for (auto it = start; it != history_.end(); ++it) {
    if (it->key.starts_with(prefix)) w->queue_.push_back(*it);
  }
  watchers_.push_back(w);
  return w;
}

void Store::unwatch(const std::shared_ptr<Watcher>& w) {
  w->close();
  std::lock_guard<std::mutex> lock(watch_mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), w), watchers_.end());
}

int64_t Store::revision() { return durable_rev_.load(); }

int64_t Store::compacted_revision() {
  std::lock_guard<std::mutex> lock(watch_mu_);
  return compacted_rev_;
}

}  // namespace polarstack::apiserver
