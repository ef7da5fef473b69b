#include "instance/manager.h"

#include <fcntl.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
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
#include "instance/manager_internal.h"

namespace polarstack::instance {

namespace detail {

bool Manager::wait_signal(std::chrono::milliseconds timeout) {
  struct timespec ts {
    static_cast<time_t>(timeout.count() / 1000), static_cast<long>((timeout.count() % 1000) * 1000000)
  };
  int sig = ::sigtimedwait(&sigs_, nullptr, &ts);
  if (sig == SIGCHLD) sigchld_at_ns_ = Clock::now().time_since_epoch().count();
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
  bool crashed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    crashed = pm_ <= 0 && !last_exit_clean_;  // already down, and not by a clean shutdown
  }
  stop_postmaster(grace);
  // A postmaster that died (killed, crashed) left no shutdown checkpoint: no need to ask
  // pg_controldata (tens of milliseconds a failover waits for) to say so.
  auto lsn = crashed ? core::Result<std::string>(core::fail(core::Code::kUnavailable, "the postmaster died (no shutdown checkpoint)"))
                     : shutdown_checkpoint_lsn(paths_);
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

core::Json Manager::status(std::chrono::milliseconds budget) {
  Probe p;
  {
    auto until = Clock::now() + budget;
    std::unique_lock<std::timed_mutex> lock(probe_mu_, std::defer_lock);
    pid_t pm;
    {
      std::lock_guard<std::mutex> l(mu_);
      pm = pm_;
    }
    // The probe's session is long-lived, and a hung postmaster (stopped, e.g. SIGSTOP)
    // would let it go on answering: such a postmaster accepts no new connection, so it
    // does not count as answering.
    char pm_state = pm > 0 ? core::proc_stat(pm).state : 0;
    if (pm_state == 'T' || pm_state == 't') {
      p.error = "the postmaster (pid " + std::to_string(pm) + ") is stopped: it accepts no new connection";
    } else if (lock.try_lock_for(budget)) {
      p = prober_.probe(std::max<std::chrono::milliseconds>(
          50ms, std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now())));
      connects_ = prober_.connects();
      // What it runs with: once per postmaster and per reload (settings_for_).
      std::vector<std::string> names;
      bool stale;
      {
        std::lock_guard<std::mutex> l(mu_);
        stale = p.connected && pm_ > 0 && (settings_for_ != pm_ || Clock::now() < settings_until_);
        for (const auto& [k, v] : cfg_.parameters) names.push_back(k);
      }
      if (stale) {
        if (auto st = prober_.settings(names)) {
          std::lock_guard<std::mutex> l(mu_);
          applied_ = st->applied;
          pending_restart_ = st->pending_restart;
          settings_for_ = pm;
        }
      }
    } else {
      p.error = "another probe is still waiting for PostgreSQL";
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (p.connected) start_failures_ = 0;
  if (p.connected && !p.in_recovery && pm_ > 0 && start_lsn_for_ != pm_) {
    start_lsn_ = p.current_lsn;
    start_lsn_for_ = pm_;
  }
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
          {"syncStandbyNames", sync_standby_names(cfg_)}, {"term", cfg_.term}, {"detached", cfg_.detached},
          {"leaseMs", lease_.count()},
          {"leaseRemainingMs", cfg_.role == "primary" && lease_.count() > 0 && !cfg_.fenced
                                   ? std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                              lease_renewed_ + lease_ - Clock::now()).count())
                                   : 0},
          {"orphansKilled", orphans_killed_}, {"orphanWindowUs", orphan_window_us_},
          {"probeConnects", connects_.load()}, {"lateRounds", late_rounds_.load()},
          {"parameters", cfg_.parameters}, {"engine", cfg_.engine},
          {"resources", {{"cpu", cfg_.cpu}, {"memory", cfg_.memory}}}, {"appliedParameters", applied_}, {"pendingRestart", pending_restart_},
          {"startFailures", start_failures_}, {"startLsn", start_lsn_for_ == pm_ ? start_lsn_ : ""},
          {"lastError", last_error_.empty() ? p.error : last_error_}};
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
  std::error_code ec;
  auto log_size = std::filesystem::file_size(paths_.postgres_log(), ec);
  auto pid = start_postmaster(paths_);
  std::lock_guard<std::mutex> lock(mu_);
  log_at_start_ = ec ? 0 : static_cast<int64_t>(log_size);
  settings_for_ = -1;
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

// PostgreSQL's backends each run in a session of their own, not in the postmaster's
// process group. This manager is a child subreaper (run()): once its postmaster is gone,
// they are its children. Each PostgreSQL process among them is killed and reaped: an
// orphaned backend must not acknowledge one more commit.
// Returns how many were still running (those already exited are only reaped).
static int kill_orphans() {
  int killed = 0;
  for (pid_t p : core::child_pids(::getpid())) {
    // comm stays "postgres" whatever title a backend sets, and a zombie still has it (a
    // tool this manager runs is not one).
    auto st = core::proc_stat(p);
    if (st.comm != "postgres") continue;
    if (st.state != 'Z') {
      ::kill(p, SIGKILL);
      ++killed;
    }
    ::waitpid(p, nullptr, 0);
  }
  return killed;
}

void Manager::notify_cm(const std::string& what) {
  if (notify_to_.empty() || Clock::now() - last_cm_contact_ >= kCmActive) return;
  size_t colon = notify_to_.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(notify_to_.c_str() + colon + 1)));
  if (colon == std::string::npos || ::inet_pton(AF_INET, notify_to_.substr(0, colon).c_str(), &a.sin_addr) != 1) return;
  if (notify_fd_ < 0) notify_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  std::string msg = cfg_.cluster + " " + cfg_.name + " " + what;
  // Best effort: the CM's next probe sees the same.
  (void)::sendto(notify_fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
}

void Manager::on_postmaster_exit(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  // Orphaned backends may still hold connections and acknowledge commits: end them now.
  // The window is counted from the SIGCHLD that told us (when it was this death's).
  auto seen = Clock::now();
  Clock::time_point told{Clock::duration(sigchld_at_ns_.load())};
  auto since = told <= seen && seen - told < std::chrono::seconds(1) ? told : seen;
  orphans_killed_ = kill_orphans();
  ::kill(-pm_, SIGKILL);  // a postmaster adopted after a manager restart: its group is not our children
  orphan_window_us_ = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since).count();
  last_exit_clean_ = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::string how = status < 0 ? "vanished" : WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                                                   : "exited with status " + std::to_string(WEXITSTATUS(status));
  last_error_ = "postmaster (pid " + std::to_string(pm_) + ") " + how;
  // Did it ever come up? A start that did not (a value PostgreSQL refuses, memory it
  // cannot have) says why in its log: that is the error to show and to roll back on.
  if (StartOutcome so = read_start_outcome(paths_.postgres_log(), log_at_start_); !so.came_up) {
    ++start_failures_;
    last_error_ = "PostgreSQL did not start (" + how + ")" + (so.errors.empty() ? "" : ": " + so.errors);
  } else {
    start_failures_ = 0;
  }
  core::log_warn("instance", last_error_ + "; " + std::to_string(orphans_killed_) + " orphaned PostgreSQL processes killed within " +
                                 std::to_string(orphan_window_us_) + " us");
  pm_ = -1;
  ++restarts_;
  notify_cm("postmaster-exited");
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
  int exit_status = -1;
  while (Clock::now() < deadline) {
    if (child) {
      int st;
      if (::waitpid(pm, &st, WNOHANG) == pm) {
        reaped = true;
        exit_status = st;
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
  kill_orphans();
  {
    std::lock_guard<std::mutex> lock(mu_);
    pm_ = -1;
    // Unknown (not our child): pg_controldata is asked.
    last_exit_clean_ = !reaped || (WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0);
  }
  std::lock_guard<std::timed_mutex> plock(probe_mu_);
  prober_.reset();
}

// A running primary's lease (see lease_ in manager_internal.h). The CM's probes renew it
// in api.cc; here, a reply from a replica newer than the last one seen does, looked for
// only once the CM has been silent for a quarter of the lease. With neither for
// kLeaseFenceAt of the lease, or told of a newer term, the primary fences itself at once:
// its sessions end and it accepts nothing until it follows the new primary. Returns
// whether it did.
bool Manager::check_lease() {
  std::chrono::milliseconds lease;
  Clock::time_point renewed;
  bool stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cfg_.role != "primary" || cfg_.fenced || pm_ <= 0 || state_ != "Running") {
      last_reply_.clear();
      stale_term_ = false;
      return false;
    }
    if (follow_) return false;  // about to be demoted by a follow request anyway
    lease = lease_;
    renewed = lease_renewed_;
    stale = stale_term_;
  }
  auto now = Clock::now();
  if (!stale && lease.count() > 0 && now - renewed > lease / 4 && now - lease_checked_ >= kLeaseCheckEvery) {
    auto since = lease_checked_;  // a reply newer than the last look arrived after it
    lease_checked_ = now;
    auto r = lease_prober_.last_replica_reply();
    if (!r) {
      lease_prober_.reset();
    } else if (!r->empty() && *r != last_reply_) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!last_reply_.empty() && since > lease_renewed_) lease_renewed_ = since;
      renewed = lease_renewed_;
      last_reply_ = *r;
    }
  }
  auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - renewed);
  if (!stale && (lease.count() == 0 || silent < lease * kLeaseFenceAt)) return false;
  // This loop itself woke late (the manager was stopped or starved): renewals may be
  // waiting, unread, for threads that did not run either. Look once more shortly (and at
  // the replicas' replies at once) before blaming the CM and the replicas: still well
  // inside the lease (kLeaseFenceAt), and never longer than kLagGrace.
  if (!stale && late_) {
    late_ = false;
    lag_deferred_until_ = now + kLagGrace;
    lease_checked_ = {};
    core::log_warn("instance", "the lease was not renewed for " + std::to_string(silent.count()) +
                                   " ms, but this manager was not scheduled either: looking again before fencing");
    return false;
  }
  if (!stale && now < lag_deferred_until_) return false;
  std::string why = stale ? "a newer term was promoted elsewhere"
                          : "no word from the Cluster Manager or any replica for " + std::to_string(silent.count()) +
                                " ms (lease " + std::to_string(lease.count()) + " ms)";
  core::log_warn("instance", "fencing itself: " + why);
  (void)fence(0ms);  // no shutdown checkpoint to wait for: end every session now
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = "fenced itself: " + why;
  stale_term_ = false;
  return true;
}

// A dead postmaster is dealt with first thing after a wake-up (SIGCHLD wakes the loop):
// its orphaned backends could acknowledge commits until they are killed.
bool Manager::reap_postmaster() {
  pid_t pm;
  bool child;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pm = pm_;
    child = pm_child_;
  }
  if (pm <= 0) return false;
  int st = -1;
  bool dead = child ? ::waitpid(pm, &st, WNOHANG) == pm : !core::process_alive(pm);
  if (!dead) return false;
  on_postmaster_exit(st);
  std::lock_guard<std::timed_mutex> plock(probe_mu_);
  prober_.reset();
  return true;
}

void Manager::supervise() {
  auto due = Clock::now() + kLoopEvery;
  while (!wait_signal(kLoopEvery)) {
    // Woken by a signal early, or on time; much later means this process did not run.
    auto now = Clock::now();
    if (now - due > kLagSlack) {
      late_ = true;
      ++late_rounds_;
    }
    due = now + kLoopEvery;
    if (reap_postmaster()) continue;
    bool fenced_itself = check_lease();
    late_ = false;  // lateness counts for the lease check of the round that noticed it
    if (fenced_itself) continue;
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
    std::string state;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pm = pm_;
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
      bool need_role;
      {
        std::lock_guard<std::mutex> lock(mu_);
        need_role = !role_ready_;
      }
      if (need_role) {
        std::lock_guard<std::timed_mutex> plock(probe_mu_);
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
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // a dead postmaster's backends become ours (kill_orphans)

  int lock_fd = ::open(paths_.lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    core::log_error("instance", "another manager already runs " + paths_.dir);
    return 3;
  }
  if (auto st = core::write_file_atomic(paths_.pid(), std::to_string(::getpid()) + "\n"); !st) {
    core::log_error("instance", st.error().message);
    return 1;
  }
  // Into the instance's cgroups (CPU and memory limits) before any postmaster starts:
  // it and every backend inherit them.
  for (const auto& dir : cfg_.cgroups) {
    int fd = ::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    std::string pid = std::to_string(::getpid());
    if (fd < 0 || ::write(fd, pid.data(), pid.size()) < 0) {
      core::log_warn("instance", "cannot join cgroup " + dir + ": " + std::strerror(errno));
    }
    if (fd >= 0) ::close(fd);
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
}  // namespace detail

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
  set_bin_dir(cfg->bin_dir);
  detail::Manager m(paths, *cfg, *token);
  return m.run();
}

}  // namespace polarstack::instance
