#include "core/workers.h"

namespace polarstack::core {

KeyedWorkers::~KeyedWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, w] : workers_) w->quit = true;
  }
  work_cv_.notify_all();
  for (auto& [k, w] : workers_) w->thread.join();
}

void KeyedWorkers::loop(Worker* w) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return w->quit || w->job; });
    if (w->quit) return;
    auto job = std::move(w->job);
    w->job = nullptr;
    lock.unlock();
    job();
    lock.lock();
    if (--pending_ == 0) done_cv_.notify_all();
  }
}

void KeyedWorkers::run_all(const std::vector<std::pair<std::string, std::function<void()>>>& jobs,
                           const std::vector<std::string>& keep) {
  std::vector<std::unique_ptr<Worker>> retired;
  {
    std::unique_lock<std::mutex> lock(mu_);
    std::set<std::string> named(keep.begin(), keep.end());
    for (const auto& [key, job] : jobs) {
      named.insert(key);
      auto& w = workers_[key];
      if (!w) {
        w = std::make_unique<Worker>();
        w->thread = std::thread([this, p = w.get()] { loop(p); });
      }
      w->job = job;
      ++pending_;
    }
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (named.count(it->first)) {
        ++it;
        continue;
      }
      it->second->quit = true;
      retired.push_back(std::move(it->second));
      it = workers_.erase(it);
    }
    work_cv_.notify_all();
    done_cv_.wait(lock, [&] { return pending_ == 0; });
  }
  for (auto& w : retired) w->thread.join();
}

}  // namespace polarstack::core
