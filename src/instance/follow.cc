// Following a new primary: a replica switches its WAL receiver on reload; a primary
// fenced by a clean shutdown whose WAL the new primary replayed (a switchover says so)
// starts as a replica of the new timeline; any other former primary, or any instance
// that does not stream from the new primary in time, is stopped, rewound with pg_rewind
// (cloned again if that fails) and started as a replica of the new primary.
#include "instance/manager_internal.h"

#include <chrono>
#include <mutex>

#include "core/files.h"
#include "core/log.h"

namespace polarstack::instance::detail {

void Manager::follow(const Config& next) {
  bool clean_stop;
  {
    std::lock_guard<std::mutex> lock(mu_);  // saved under it too: the API thread saves cfg_ as well
    // Fenced by a clean shutdown, and the new primary replayed past where its WAL ends
    // (a switchover says so): nothing of it lies past the fork, so it can start as a
    // replica of the new timeline without a rewind.
    clean_stop = follow_no_rewind_ && cfg_.fenced && !cfg_.fenced_lsn.empty() && pm_ <= 0;
    follow_no_rewind_ = false;
    cfg_ = next;
    follow_by_.reset();
    if (auto st = save_config(paths_, cfg_); !st) {
      state_ = "Running";
      last_error_ = st.error().message;
      return;
    }
    state_ = "Following";
  }
  Probe p;
  {
    std::lock_guard<std::timed_mutex> plock(probe_mu_);
    p = prober_.probe();
  }
  if (p.connected && p.in_recovery) {
    // A replica switches its WAL receiver on reload; with recovery_target_timeline=latest
    // it follows the new timeline if it has not replayed past the fork.
    std::lock_guard<std::timed_mutex> plock(probe_mu_);
    auto st = write_conf(paths_, next);
    if (st) st = prober_.reload();
    std::lock_guard<std::mutex> lock(mu_);
    state_ = "Running";
    follow_by_ = Clock::now() + 5s;
    if (!st) last_error_ = st.error().message;
    return;
  }
  if (clean_stop) {
    if (auto st = core::write_file_atomic(paths_.data() + "/standby.signal", ""); st) {
      core::log_info("instance", "following " + next.primary_host + ":" + std::to_string(next.primary_port) +
                                     " (shut down cleanly before the fork: no rewind)");
      {
        std::lock_guard<std::mutex> lock(mu_);
        quick_crashes_ = 0;
      }
      start();
      std::lock_guard<std::mutex> lock(mu_);
      follow_by_ = Clock::now() + 5s;  // not streaming by then (it had diverged after all): rewound
      return;
    }
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
    std::lock_guard<std::timed_mutex> plock(probe_mu_);
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

}  // namespace polarstack::instance::detail
