// The API server's worker threads: httplib's task queue, see ElasticPool.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace polarstack::apiserver {

// Threads on demand, up to `max` (each open watch holds one): a server at rest keeps only
// `min` of them, where a fixed pool of 256 costs ~10 MB of touched stacks and arenas.
// Idle threads beyond `min` end after a while.
class ElasticPool : public httplib::TaskQueue {
 public:
  ElasticPool(size_t min, size_t max) : min_(min), max_(std::max(min, max)) {}
  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    jobs_.push_back(std::move(fn));
    if (idle_ < jobs_.size() && threads_ < max_) {
      ++threads_;
      std::thread([this] { work(); }).detach();
    }
    cv_.notify_one();
  }
  void shutdown() override {
    std::unique_lock<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
    done_.wait(lock, [&] { return threads_ == 0; });
  }

 private:
  void work() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      ++idle_;
      bool got = cv_.wait_for(lock, std::chrono::seconds(30), [&] { return stop_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty() && (stop_ || (!got && threads_ > min_))) break;
      if (jobs_.empty()) continue;
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
    if (--threads_ == 0) done_.notify_all();
  }
  const size_t min_, max_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  std::deque<std::function<void()>> jobs_;
  size_t threads_ = 0, idle_ = 0;
  bool stop_ = false;
};

}  // namespace polarstack::apiserver
