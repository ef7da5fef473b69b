// The API server's worker threads (httplib's task queue): see ElasticPool.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace polarstack::apiserver {

// Threads on demand, up to `max` (each open watch holds one): a server at rest keeps only
// `min` of them, where a fixed pool of 256 costs ~10 MB of touched stacks and arenas.
// Idle threads beyond `min` end after a while.
// Threads on demand, up to `max`; an idle one ends after `idle_for`, down to `min`. The next job
// goes to the thread that became idle last (LIFO): the same few threads serve the
// steady trickle of short requests at rest, and the rest of a burst's threads time out
// (handed out in turn, every thread would get a job now and then and none would end).
class ElasticPool : public httplib::TaskQueue {
 public:
  ElasticPool(size_t min, size_t max, std::chrono::milliseconds idle_for)
      : min_(min), max_(std::max(min, max)), idle_for_(idle_for) {}
  size_t threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_;
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      Waiter* w = idle_.back();
      idle_.pop_back();
      w->job = std::move(fn);
      w->cv.notify_one();
      return;
    }
    if (threads_ < max_) {
      ++threads_;
      std::thread([this, f = std::move(fn)]() mutable { work(std::move(f)); }).detach();
      return;
    }
    jobs_.push_back(std::move(fn));
  }
  void shutdown() override {
    std::unique_lock<std::mutex> lock(mu_);
    stop_ = true;
    for (Waiter* w : idle_) w->cv.notify_one();
    done_.wait(lock, [&] { return threads_ == 0; });
  }

 private:
  struct Waiter {
    std::condition_variable cv;
    std::function<void()> job;
  };
  void work(std::function<void()> job) {
    Waiter self;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (job) {
        lock.unlock();
        job();
        job = nullptr;
        lock.lock();
      }
      if (!jobs_.empty()) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
        continue;
      }
      if (stop_) break;
      idle_.push_back(&self);
      bool assigned = self.cv.wait_for(lock, idle_for_, [&] { return stop_ || self.job != nullptr; });
      if (self.job) {
        job = std::move(self.job);
        self.job = nullptr;
        continue;
      }
      idle_.erase(std::find(idle_.begin(), idle_.end(), &self));  // still listed: nobody took it
      if (stop_ || (!assigned && threads_ > min_)) break;
    }
    if (--threads_ == 0) done_.notify_all();
  }
  const size_t min_, max_;
  const std::chrono::milliseconds idle_for_;
  std::mutex mu_;
  std::condition_variable done_;
  std::deque<std::function<void()>> jobs_;
  std::vector<Waiter*> idle_;  // the last one became idle last
  size_t threads_ = 0;
  bool stop_ = false;
};

}  // namespace polarstack::apiserver
