// The instance manager's internals, shared by manager.cc (supervision: the postmaster,
// fencing, following) and api.cc (the instance API over instance/http.h).
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/json.h"
#include "instance/config.h"
#include "instance/http.h"
#include "instance/postgres.h"

namespace polarstack::instance::detail {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr int kMaxQuickCrashes = 10;
constexpr auto kStableAfter = 60s;
constexpr auto kCmActive = 5s;         // a CM probe this recent means a CM acts for the cluster
constexpr auto kPrimaryDownMax = 30s;  // a down primary waits at most this long for the CM
constexpr double kLeaseFenceAt = 0.75;  // a primary fences itself this far into an unrenewed lease
constexpr auto kLeaseCheckEvery = 200ms;  // how often a primary looks for its replicas' replies
constexpr auto kLoopEvery = 100ms;  // the supervision loop's period (signals wake it sooner)
constexpr auto kLagSlack = 250ms;   // a loop this late was not scheduled (stopped, starved)
constexpr auto kLagGrace = 300ms;   // how long a late loop waits for renewals before fencing

class Manager {
 public:
  Manager(Paths paths, Config cfg, std::string token)
      : paths_(std::move(paths)), cfg_(cfg), token_(std::move(token)), prober_(paths_, cfg), lease_prober_(paths_, cfg) {}

  int run();

 private:
  bool serve();
  void supervise();
  void on_postmaster_exit(int status);
  bool reap_postmaster();  // true if the postmaster had died (then dealt with)
  void start();
  void stop_postmaster(std::chrono::milliseconds grace = std::chrono::seconds(60));
  void follow(const Config& next);
  void rewind_and_start(const Config& next);
  bool check_follow();
  core::Result<std::string> fence(std::chrono::milliseconds grace);
  bool wait_signal(std::chrono::milliseconds timeout);
  bool check_lease();
  // `budget`: how long the SQL probe may take (then it reports role unknown).
  core::Json status(std::chrono::milliseconds budget = 1000ms);
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
  pid_t restart_asked_for_ = -1;  // the postmaster a POST /v1/restart was last accepted for
  bool follow_no_rewind_ = false;  // the pending follow_ may start without pg_rewind (see /v1/follow)
  int restarts_ = 0;
  bool last_exit_clean_ = true;  // how the postmaster last exited (true: exit status 0)
  // The last death of the postmaster: how many orphaned PostgreSQL processes (backends
  // that could still acknowledge a commit) were killed, and how long after the manager
  // was told (SIGCHLD) they were all gone. -1: none yet.
  int orphans_killed_ = -1;
  int64_t orphan_window_us_ = -1;
  std::atomic<int64_t> sigchld_at_ns_{0};  // steady clock, when SIGCHLD last woke the loop
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
  // Where that CM listens for word from instances ("X-Polarstack-Notify: ip:port" on its
  // probes): a dead postmaster is told to it at once (one UDP datagram), so the CM
  // acts on it without waiting for its next probe.
  std::string notify_to_;
  int notify_fd_ = -1;
  void notify_cm(const std::string& what);  // with mu_ held
  // The lease: a primary accepts writes only while it holds one. The Cluster Manager grants
  // it (and sets its length) with "X-Polarstack-Lease-Ms" on its probes; each probe renews
  // it, and so does every new reply from a replica (pg_stat_replication.reply_time), so a
  // primary cut off from the CM alone keeps serving. Cut off from both, it fences itself
  // before the lease runs out (kLeaseFenceAt of it). A CM that pauses HA, or has no
  // replica to promote, grants none (0).
  std::chrono::milliseconds lease_{0};
  Clock::time_point lease_renewed_{}, lease_checked_{};
  std::string last_reply_;   // the replicas' latest reply_time seen on this primary
  bool stale_term_ = false;  // a CM told this primary of a newer term: it fences itself
  // The supervision loop's own lateness (supervise thread only; late_rounds_ in status).
  bool late_ = false;
  std::atomic<int64_t> late_rounds_{0};
  Clock::time_point lag_deferred_until_{};
  // Starts of PostgreSQL in a row that ended before it came up (read from its log at the
  // postmaster's exit), and where postgres.log was when the current one started.
  int start_failures_ = 0;
  int64_t log_at_start_ = 0;
  // What PostgreSQL runs with (Prober::settings), asked again only after a start or a
  // reload (settings_for_ is the postmaster they were read from; -1: read again).
  core::Json applied_ = core::Json::object();
  core::Json pending_restart_ = core::Json::array();
  pid_t settings_for_ = -1;
  // A primary's WAL position when its current postmaster first answered: past what its
  // start wrote (the parameter change a replica must replay before its own restart).
  std::string start_lsn_;
  pid_t start_lsn_for_ = -1;
  Clock::time_point settings_until_{};  // after a reload: read again on every status until then
  int64_t data_bytes_ = 0;
  Clock::time_point data_bytes_at_{};

  std::timed_mutex probe_mu_;  // guards prober_
  Prober prober_;
  std::atomic<int64_t> connects_{0};  // connections prober_ opened (status: probeConnects)
  Prober lease_prober_;  // the supervision thread's own connection (never waits for probe_mu_)
};

}  // namespace polarstack::instance::detail
