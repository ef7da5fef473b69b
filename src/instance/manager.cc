#include "instance/manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "core/files.h"
#include "core/log.h"
#include "core/process.h"
#include "core/time.h"
#include "instance/http.h"
#include "instance/postgres.h"

namespace polarstack::instance {

namespace {
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr int kMaxQuickCrashes = 10;
constexpr auto kStableAfter = 60s;
constexpr auto kCmActive = 5s;         // a CM probe this recent means a CM acts for the cluster
constexpr auto kPrimaryDownMax = 30s;  // a down primary waits at most this long for the CM

class Manager {
 public:
  Manager(Paths paths, Config cfg, std::string token)
      : paths_(std::move(paths)), cfg_(cfg), token_(std::move(token)), prober_(paths_, cfg) {}

  int run();

 private:
  bool serve();
  void supervise();
  void on_postmaster_exit(int status);
  void start();
  void stop_postmaster(std::chrono::milliseconds grace = std::chrono::seconds(60));
  void follow(const Config& next);
  void rewind_and_start(const Config& next);
  bool check_follow();
  core::Result<std::string> fence(std::chrono::milliseconds grace);
  bool wait_signal(std::chrono::milliseconds timeout);
  core::Json status();
  void set_state(const std::string& s, const std::string& error = "") {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = s;
    if (!error.empty()) last_error_ = error;
  }

  Paths paths_;
  Config cfg_;
  std::string token_;
  HttpResponse handle(const HttpRequest& req);
  HttpServer http_{[this](const HttpRequest& req) { return handle(req); }};
  std::thread http_thread_;
  sigset_t sigs_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> restart_requested_{false};
  // POST /v1/fence: the HTTP thread asks, the supervision thread (which owns the
  // postmaster) does it and answers.
  std::mutex fence_mu_;
  std::condition_variable fence_cv_;
  bool fence_requested_ = false;
  std::chrono::milliseconds fence_grace_{60000};
  std::optional<core::Result<std::string>> fence_result_;

  std::mutex mu_;  // guards the fields below
  std::string state_ = "Starting";
  std::string last_error_;
  pid_t pm_ = -1;
  bool pm_child_ = false;
  int restarts_ = 0;
  int quick_crashes_ = 0;
  bool role_ready_ = false;
  Clock::time_point started_at_{}, next_start_{};
  std::optional<Config> follow_;               // requested: become a replica of this primary
  std::optional<Clock::time_point> follow_by_; // a reloaded replica must stream from it by then
  Clock::time_point follow_retry_at_{};        // after a failed rewind and re-clone
  // The Cluster Manager probes with "X-Polarstack-Cm: active" while it acts for the
  // cluster. While it does, a primary whose postmaster dies is left down for it to
  // decide (fail over, or restart in place); without it the manager restarts it itself.
  Clock::time_point last_cm_contact_{};
  int64_t data_bytes_ = 0;
  Clock::time_point data_bytes_at_{};

  std::mutex probe_mu_;  // guards prober_
  Prober prober_;
};

bool Manager::wait_signal(std::chrono::milliseconds timeout) {
  struct timespec ts {
    static_cast<time_t>(timeout.count() / 1000), static_cast<long>((timeout.count() % 1000) * 1000000)
  };
  int sig = ::sigtimedwait(&sigs_, nullptr, &ts);
  // SIGUSR1 (a request is waiting) and SIGCHLD (the postmaster may have died: its
  // orphaned backends must go now) only wake the loop.
  if (sig > 0 && sig != SIGUSR1 && sig != SIGCHLD) stop_ = true;
  return stop_.load();
}

// Shuts PostgreSQL down cleanly and keeps it down (see Config::fenced). A fast shutdown
// ends every session (uncommitted work rolls back), writes a shutdown checkpoint and
// lets the walsenders send all WAL up to it to connected replicas before it exits.
core::Result<std::string> Manager::fence(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cfg_.fenced && state_ == "Fenced") return cfg_.fenced_lsn;
    cfg_.fenced = true;  // saved first: a manager restarted from here on keeps it down
    follow_.reset();
    follow_by_.reset();
    state_ = "Fencing";
    if (auto st = save_config(paths_, cfg_); !st) return std::unexpected(st.error());
  }
  stop_postmaster(grace);
  auto lsn = shutdown_checkpoint_lsn(paths_);
  std::lock_guard<std::mutex> lock(mu_);
  state_ = "Fenced";
  if (!lsn) {
    // A postmaster that had crashed: fenced all the same, but nobody can say where its
    // WAL ended (a failover; a switchover refuses this).
    last_error_ = "fenced after an unclean stop (" + lsn.error().message + ")";
    core::log_warn("instance", last_error_);
    return std::string();
  }
  cfg_.fenced_lsn = *lsn;
  if (auto st = save_config(paths_, cfg_); !st) return std::unexpected(st.error());
  core::log_info("instance", "fenced: PostgreSQL shut down cleanly, its WAL ends at " + *lsn);
  return *lsn;
}

core::Json Manager::status() {
  Probe p;
  {
    std::lock_guard<std::mutex> lock(probe_mu_);
    p = prober_.probe();
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Walking PGDATA costs more than the rest of a status: at most every 30 s.
  if (Clock::now() - data_bytes_at_ > 30s) {
    data_bytes_ = dir_bytes(paths_.data());
    data_bytes_at_ = Clock::now();
  }
  std::string role = !p.connected ? "unknown" : p.in_recovery ? "replica" : "primary";
  bool ready = p.connected && (p.in_recovery ? p.streaming : role_ready_);
  return {{"name", cfg_.name}, {"cluster", cfg_.cluster}, {"role", role}, {"state", state_}, {"ready", ready},
          {"port", cfg_.port}, {"postmasterPid", pm_}, {"managerPid", ::getpid()}, {"timeline", p.timeline},
          {"currentLsn", p.current_lsn}, {"receivedLsn", p.received_lsn}, {"replayedLsn", p.replayed_lsn},
          {"lsn", p.in_recovery ? p.replayed_lsn : p.current_lsn}, {"streaming", p.streaming},
          {"version", p.version}, {"dataDirBytes", data_bytes_}, {"restarts", restarts_},
          {"configuredRole", cfg_.role}, {"primaryPort", cfg_.role == "replica" ? cfg_.primary_port : 0},
          {"senderPort", p.sender_port}, {"fenced", cfg_.fenced}, {"fencedLsn", cfg_.fenced_lsn},
          {"syncStandbyNames", sync_standby_names(cfg_)},
          {"lastError", last_error_.empty() ? p.error : last_error_}};
}

namespace {
HttpResponse json_error(int status, const std::string& msg) { return {status, core::Json{{"error", msg}}.dump()}; }
HttpResponse reply(const core::Status& st) {
  if (st) return {200, R"({"ok":true})"};
  return json_error(st.error().code == core::Code::kConflict ? 409 : 500, st.error().message);
}
bool all_of(const std::string& s, size_t max, const char* extra) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || std::strchr(extra, c) != nullptr;
    if (!ok) return false;
  }
  return true;
}
bool valid_slot(const std::string& s) { return all_of(s, 63, "_"); }
bool valid_host(const std::string& s) {
  std::string lower = s;
  for (auto& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return all_of(lower, 253, ".:-");
}
}  // namespace

HttpResponse Manager::handle(const HttpRequest& req) {
  if (!constant_time_equal(req.header("authorization"), "Bearer " + token_)) {
    return json_error(401, "missing or wrong bearer token");
  }
  const std::string& m = req.method;
  const std::string& path = req.path;
  auto only = [&](const char* method) { return m == method ? std::optional<HttpResponse>() : json_error(405, "use " + std::string(method)); };
  if (path == "/v1/status") {
    if (auto r = only("GET")) return *r;
    if (req.header("x-polarstack-cm") == "active") {
      std::lock_guard<std::mutex> lock(mu_);
      last_cm_contact_ = Clock::now();
    }
    return {200, status().dump()};
  }
  // Slot names are checked here: anything else is a 404.
  const std::string slots = "/v1/slots/";
  if (path.rfind(slots, 0) == 0) {
    std::string slot = path.substr(slots.size());
    if (!valid_slot(slot)) return json_error(404, "no such resource");
    if (m != "PUT" && m != "DELETE") return json_error(405, "use PUT or DELETE");
    std::lock_guard<std::mutex> lock(probe_mu_);
    return reply(m == "PUT" ? prober_.ensure_slot(slot) : prober_.drop_slot(slot));
  }
  if (path == "/v1/reload") {
    if (auto r = only("POST")) return *r;
    Config cfg;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cfg = cfg_;
    }
    std::lock_guard<std::mutex> lock(probe_mu_);
    auto st = write_conf(paths_, cfg);
    return reply(st ? prober_.reload() : st);
  }
  if (path == "/v1/fence") {
    if (auto r = only("POST")) return *r;
    // {"graceMs": N}: how long the fast shutdown may take before the group is killed
    // (default 60 s; the Cluster Manager, fencing a failed primary, gives it little).
    std::chrono::milliseconds grace = 60s;
    if (!req.body.empty()) {
      auto body = core::parse_json(req.body);
      if (!body || !body->is_object()) return json_error(400, "body: must be a JSON object");
      for (const auto& [k, v] : body->items()) {
        if (k != "graceMs") return json_error(400, k + ": unknown field");
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 600000) {
          return json_error(400, "graceMs: must be an integer 0..600000");
        }
        grace = std::chrono::milliseconds(v.get<int64_t>());
      }
    }
    std::unique_lock<std::mutex> lock(fence_mu_);
    fence_requested_ = true;
    fence_grace_ = grace;
    fence_result_.reset();
    ::kill(::getpid(), SIGUSR1);  // wakes the supervision loop
    if (!fence_cv_.wait_for(lock, grace + 30s, [&] { return fence_result_.has_value(); })) {
      return json_error(503, "fencing did not finish in time");
    }
    auto res = *fence_result_;
    if (!res) return reply(std::unexpected(res.error()));
    return {200, core::Json{{"ok", true}, {"fencedLsn", *res}}.dump()};
  }
  auto fenced = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return cfg_.fenced;
  };
  // Undoes a fence (a cancelled switchover): PostgreSQL starts again in its configured
  // role. The caller makes sure nobody else was promoted meanwhile.
  if (path == "/v1/unfence") {
    if (auto r = only("POST")) return *r;
    std::lock_guard<std::mutex> lock(mu_);
    if (cfg_.fenced) {
      cfg_.fenced = false;
      cfg_.fenced_lsn.clear();
      if (auto st = save_config(paths_, cfg_); !st) return reply(st);
      state_ = "Starting";
      next_start_ = Clock::now();
      core::log_info("instance", "unfenced: starting PostgreSQL again as " + cfg_.role);
    }
    return reply({});
  }
  if (path == "/v1/promote") {
    if (auto r = only("POST")) return *r;
    if (fenced()) return json_error(409, "fenced: it may only follow a new primary");
    core::Status st;
    {
      std::lock_guard<std::mutex> lock(probe_mu_);
      st = prober_.promote();
    }
    if (st) {
      // Remembered, so a restart does not bring it back as a replica of its old primary.
      std::lock_guard<std::mutex> lock(mu_);
      cfg_.role = "primary";
      follow_.reset();
      follow_by_.reset();
      st = save_config(paths_, cfg_);
      if (st) st = write_conf(paths_, cfg_);
      core::log_info("instance", "promoted to primary");
    }
    return reply(st);
  }
  // Become a replica of another primary: a replica reloads its primary_conninfo; a primary
  // (demote) or a replica that cannot follow is stopped, rewound with pg_rewind against the
  // new primary (re-cloned if that fails) and started as a replica. Asynchronous: the
  // status shows state Following/Rewinding/Recloning and then the new sender.
  if (path == "/v1/follow") {
    if (auto r = only("POST")) return *r;
    auto body = core::parse_json(req.body);
    if (!body || !body->is_object()) return json_error(400, "body: must be a JSON object");
    const core::Json& b = *body;
    for (const auto& [k, v] : b.items()) {
      if (k != "primaryHost" && k != "primaryPort" && k != "slot") return json_error(400, k + ": unknown field");
    }
    std::string host = b.contains("primaryHost") && b["primaryHost"].is_string() ? b["primaryHost"].get<std::string>() : "127.0.0.1";
    if (!valid_host(host)) return json_error(400, "primaryHost: must be a host name or address");
    if (!b.contains("primaryPort") || !b["primaryPort"].is_number_integer()) return json_error(400, "primaryPort: required integer");
    int port = b["primaryPort"].get<int>();
    if (port < 1 || port > 65535) return json_error(400, "primaryPort: must be 1..65535");
    std::string slot = b.contains("slot") && b["slot"].is_string() ? b["slot"].get<std::string>() : "";
    if (!valid_slot(slot)) return json_error(400, "slot: required, [a-z0-9_]{1,63}");
    if (port == cfg_.port && (host == "127.0.0.1" || host == "localhost")) return json_error(400, "primaryPort: that is this instance");
    std::lock_guard<std::mutex> lock(mu_);
    Config next = cfg_;
    next.role = "replica";
    next.primary_host = host;
    next.primary_port = port;
    next.slot = slot;
    next.fenced = false;  // a fenced instance comes back only as a replica
    next.fenced_lsn.clear();
    follow_ = next;
    core::log_info("instance", "asked to follow " + host + ":" + std::to_string(port));
    return reply({});
  }
  // {"standbys": ["c-1", "c-2"], "k": 1}: commits wait for k of them (synchronous_standby_names
  // = ANY k (...)); an empty list makes replication asynchronous again. Reloaded at once.
  if (path == "/v1/sync") {
    if (auto r = only("POST")) return *r;
    auto body = core::parse_json(req.body);
    if (!body || !body->is_object()) return json_error(400, "body: must be a JSON object");
    for (const auto& [k, v] : body->items()) {
      if (k != "standbys" && k != "k") return json_error(400, k + ": unknown field");
    }
    std::vector<std::string> names;
    if (const auto it = body->find("standbys"); it != body->end()) {
      if (!it->is_array()) return json_error(400, "standbys: must be a list of instance names");
      for (const auto& n : *it) {
        if (!n.is_string() || !all_of(n.get<std::string>(), 63, "-")) return json_error(400, "standbys: must be instance names");
        names.push_back(n.get<std::string>());
      }
    }
    int k = body->value("k", names.empty() ? 0 : 1);
    if (!names.empty() && (k < 1 || k > static_cast<int>(names.size()))) {
      return json_error(400, "k: must be 1.." + std::to_string(names.size()));
    }
    Config cfg;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cfg_.sync_standbys = names;
      cfg_.sync_k = names.empty() ? 0 : k;
      if (auto st = save_config(paths_, cfg_); !st) return reply(st);
      cfg = cfg_;
    }
    std::lock_guard<std::mutex> lock(probe_mu_);
    auto st = write_conf(paths_, cfg);
    if (st && cfg.role == "primary") st = prober_.reload();
    if (st) core::log_info("instance", "synchronous_standby_names = '" + sync_standby_names(cfg) + "'");
    return reply(st);
  }
  if (path == "/v1/restart") {
    if (auto r = only("POST")) return *r;
    if (fenced()) return json_error(409, "fenced: it may only follow a new primary");
    restart_requested_ = true;
    return reply({});
  }
  if (path == "/v1/stop") {
    if (auto r = only("POST")) return *r;
    ::kill(::getpid(), SIGTERM);  // picked up by the supervision loop's sigtimedwait
    return reply({});
  }
  return json_error(404, "no such resource");
}

bool Manager::serve() {
  if (auto st = http_.listen(cfg_.api_port); !st) {
    core::log_error("instance", st.error().message);
    return false;
  }
  http_thread_ = std::thread([this] { http_.serve(); });
  return true;
}

void Manager::start() {
  Config cfg;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cfg = cfg_;
    if (cfg_.fenced) {
      state_ = "Fenced";  // stays down until told to follow a new primary
      return;
    }
  }
  if (auto st = write_conf(paths_, cfg); !st) {
    set_state("Failed", st.error().message);
    return;
  }
  auto pid = start_postmaster(paths_);
  std::lock_guard<std::mutex> lock(mu_);
  if (!pid) {
    last_error_ = pid.error().message;
    next_start_ = Clock::now() + 5s;
    return;
  }
  pm_ = *pid;
  pm_child_ = true;
  started_at_ = Clock::now();
  state_ = "Running";
  core::log_info("instance", "postmaster started, pid " + std::to_string(pm_));
}

void Manager::on_postmaster_exit(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  // Orphaned backends may still hold connections and acknowledge commits: end them now.
  ::kill(-pm_, SIGKILL);
  std::string how = status < 0 ? "vanished" : WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                                                   : "exited with status " + std::to_string(WEXITSTATUS(status));
  last_error_ = "postmaster (pid " + std::to_string(pm_) + ") " + how;
  core::log_warn("instance", last_error_);
  pm_ = -1;
  ++restarts_;
  if (Clock::now() - started_at_ > kStableAfter) quick_crashes_ = 0;
  if (++quick_crashes_ > kMaxQuickCrashes) {
    state_ = "CrashLoop";
    core::log_error("instance", "postmaster crashed " + std::to_string(kMaxQuickCrashes) +
                                    " times in a row; not restarting it until POST /v1/restart");
    return;
  }
  if (cfg_.role == "primary" && Clock::now() - last_cm_contact_ < kCmActive) {
    // The Cluster Manager is watching: it fails over (and fences this one) or asks for a
    // restart in place. Should it go quiet, the supervision loop restarts it itself.
    state_ = "PrimaryDown";
    next_start_ = Clock::now() + kPrimaryDownMax;
    core::log_warn("instance", "the primary is down; leaving the decision to the Cluster Manager");
    return;
  }
  // The first restart is immediate; then 1s, 2s, 4s, ... up to 30s.
  auto backoff = quick_crashes_ <= 1 ? 0s : std::min<std::chrono::seconds>(30s, std::chrono::seconds(1 << std::min(quick_crashes_ - 2, 5)));
  next_start_ = Clock::now() + backoff;
  state_ = "Restarting";
}

void Manager::stop_postmaster(std::chrono::milliseconds grace) {
  pid_t pm;
  bool child;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pm = pm_;
    child = pm_child_;
  }
  if (pm <= 0) return;
  ::kill(pm, SIGINT);  // fast shutdown
  auto deadline = Clock::now() + grace;
  bool reaped = false;
  while (Clock::now() < deadline) {
    if (child) {
      int st;
      if (::waitpid(pm, &st, WNOHANG) == pm) {
        reaped = true;
        break;
      }
    } else if (!core::process_alive(pm)) {
      break;
    }
    std::this_thread::sleep_for(20ms);  // polling the exit of a process we may not own
  }
  // Past the grace (hung, or SIGSTOPped: signals wait), or its orphans: the whole group.
  ::kill(-pm, SIGKILL);
  if (child && !reaped) ::waitpid(pm, nullptr, 0);  // SIGKILL always ends it
  {
    std::lock_guard<std::mutex> lock(mu_);
    pm_ = -1;
  }
  std::lock_guard<std::mutex> plock(probe_mu_);
  prober_.reset();
}

void Manager::follow(const Config& next) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cfg_ = next;
    state_ = "Following";
    follow_by_.reset();
  }
  if (auto st = save_config(paths_, next); !st) {
    set_state("Running", st.error().message);
    return;
  }
  Probe p;
  {
    std::lock_guard<std::mutex> plock(probe_mu_);
    p = prober_.probe();
  }
  if (p.connected && p.in_recovery) {
    // A replica switches its WAL receiver on reload; with recovery_target_timeline=latest
    // it follows the new timeline if it has not replayed past the fork.
    std::lock_guard<std::mutex> plock(probe_mu_);
    auto st = write_conf(paths_, next);
    if (st) st = prober_.reload();
    std::lock_guard<std::mutex> lock(mu_);
    state_ = "Running";
    follow_by_ = Clock::now() + 5s;
    if (!st) last_error_ = st.error().message;
    return;
  }
  rewind_and_start(next);
}

void Manager::rewind_and_start(const Config& next) {
  set_state("Rewinding");
  stop_postmaster();
  auto st = rewind(paths_, next, stop_);
  if (!st) {
    core::log_warn("instance", st.error().message + "; cloning again from the new primary");
    set_state("Recloning", st.error().message);
    st = reclone(paths_, next, stop_);
  }
  if (!st) {
    core::log_error("instance", "cannot follow the new primary: " + st.error().message);
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = st.error().message;
    if (!follow_) follow_ = next;  // tried again by the supervision loop
    follow_retry_at_ = Clock::now() + 2s;
    state_ = "Starting";
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    quick_crashes_ = 0;
    follow_by_.reset();
  }
  core::log_info("instance", "following " + next.primary_host + ":" + std::to_string(next.primary_port));
  start();
}

// True when a reloaded replica streams from its new primary, or has no deadline pending;
// false (and rewinds) when it missed the deadline.
bool Manager::check_follow() {
  Config cfg;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!follow_by_) return true;
    cfg = cfg_;
  }
  Probe p;
  {
    std::lock_guard<std::mutex> plock(probe_mu_);
    p = prober_.probe();
  }
  if (p.connected && p.streaming && p.sender_port == cfg.primary_port) {
    std::lock_guard<std::mutex> lock(mu_);
    follow_by_.reset();
    return true;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (Clock::now() < *follow_by_) return true;
  }
  core::log_warn("instance", "not streaming from the new primary after a reload; rewinding");
  rewind_and_start(cfg);
  return false;
}

void Manager::supervise() {
  while (!wait_signal(100ms)) {
    {
      std::unique_lock<std::mutex> lock(fence_mu_);
      if (fence_requested_) {
        fence_requested_ = false;
        auto grace = fence_grace_;
        lock.unlock();
        auto r = fence(grace);
        lock.lock();
        fence_result_ = r;
        fence_cv_.notify_all();
        continue;
      }
    }
    std::optional<Config> follow_req;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (Clock::now() >= follow_retry_at_) follow_req.swap(follow_);
    }
    if (follow_req) {
      follow(*follow_req);
      continue;
    }
    if (!check_follow()) continue;
    pid_t pm;
    bool child;
    std::string state;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pm = pm_;
      child = pm_child_;
      state = state_;
    }
    if (restart_requested_.exchange(false)) {
      core::log_info("instance", "restart requested");
      stop_postmaster();
      {
        std::lock_guard<std::mutex> lock(mu_);
        quick_crashes_ = 0;
      }
      start();
      continue;
    }
    if (pm > 0) {
      int st = -1;
      bool dead = child ? ::waitpid(pm, &st, WNOHANG) == pm : !core::process_alive(pm);
      if (dead) {
        on_postmaster_exit(st);
        std::lock_guard<std::mutex> plock(probe_mu_);
        prober_.reset();
        continue;
      }
      bool need_role;
      {
        std::lock_guard<std::mutex> lock(mu_);
        need_role = !role_ready_;
      }
      if (need_role) {
        std::lock_guard<std::mutex> plock(probe_mu_);
        Probe p = prober_.probe();
        if (p.connected && p.in_recovery) {
          std::lock_guard<std::mutex> lock(mu_);
          role_ready_ = true;  // a replica gets the role from its primary
        } else if (p.connected && prober_.ensure_replication_role()) {
          std::lock_guard<std::mutex> lock(mu_);
          role_ready_ = true;
        }
      }
    } else if (state == "Restarting" || state == "Starting" || state == "PrimaryDown") {
      bool due;
      {
        std::lock_guard<std::mutex> lock(mu_);
        due = (Clock::now() >= next_start_ ||
               (state == "PrimaryDown" && Clock::now() - last_cm_contact_ >= kCmActive)) &&
              !follow_;  // a pending follow starts it itself
      }
      if (due) start();
    }
  }
}

int Manager::run() {
  sigemptyset(&sigs_);
  sigaddset(&sigs_, SIGTERM);
  sigaddset(&sigs_, SIGINT);
  sigaddset(&sigs_, SIGHUP);
  sigaddset(&sigs_, SIGUSR1);
  sigaddset(&sigs_, SIGCHLD);
  ::pthread_sigmask(SIG_BLOCK, &sigs_, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  int lock_fd = ::open(paths_.lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    core::log_error("instance", "another manager already runs " + paths_.dir);
    return 3;
  }
  if (auto st = core::write_file_atomic(paths_.pid(), std::to_string(::getpid()) + "\n"); !st) {
    core::log_error("instance", st.error().message);
    return 1;
  }
  if (!serve()) return 4;
  core::log_info("instance", "managing " + cfg_.name + " (" + cfg_.role + ") on port " + std::to_string(cfg_.port));

  set_state("Bootstrapping");
  for (int attempt = 1; !stop_.load(); ++attempt) {
    auto st = bootstrap(paths_, cfg_, stop_);
    if (st) break;
    core::log_warn("instance", "bootstrap attempt " + std::to_string(attempt) + ": " + st.error().message);
    set_state("Bootstrapping", st.error().message);
    if (wait_signal(std::chrono::milliseconds(std::min(500 * attempt, 5000)))) break;
  }
  if (!stop_.load()) {
    if (auto pm = running_postmaster(paths_)) {
      std::lock_guard<std::mutex> lock(mu_);
      pm_ = *pm;
      pm_child_ = false;
      started_at_ = Clock::now();
      state_ = "Running";
      core::log_info("instance", "adopted the running postmaster, pid " + std::to_string(pm_));
    } else {
      set_state("Starting");
      start();
    }
    bool fenced;
    {
      std::lock_guard<std::mutex> lock(mu_);
      fenced = cfg_.fenced;
    }
    if (fenced) {  // e.g. the manager died while fencing: PostgreSQL must stay down
      stop_postmaster();
      set_state("Fenced");
    }
    supervise();
  }
  core::log_info("instance", "stopping");
  set_state("Stopping");
  stop_postmaster();
  http_.stop();
  if (http_thread_.joinable()) http_thread_.join();
  ::unlink(paths_.pid().c_str());
  return 0;
}
}  // namespace

int run_manager(const std::string& dir) {
  Paths paths{dir};
  auto cfg = load_config(paths);
  if (!cfg) {
    core::log_error("instance", cfg.error().message);
    return 2;
  }
  auto token = core::read_secret(paths.token());
  if (!token || token->empty()) {
    core::log_error("instance", "cannot read the API token " + paths.token());
    return 2;
  }
  Manager m(paths, *cfg, *token);
  return m.run();
}

}  // namespace polarstack::instance
