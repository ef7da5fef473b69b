// Long-lived worker threads, one per key, that run a job each on request: for work done
// again and again on the same things (the Cluster Manager probes every instance every few
// hundred milliseconds) without creating a thread each time.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace polarstack::core {

class KeyedWorkers {
 public:
  KeyedWorkers() = default;
  KeyedWorkers(const KeyedWorkers&) = delete;
  KeyedWorkers& operator=(const KeyedWorkers&) = delete;
  ~KeyedWorkers();
  // Runs every job on its key's worker (started when missing), all at once, and returns
  // when all are done. Workers of keys named neither by a job nor in `keep` are stopped
  // (`keep`: keys with no job this time that will have one again).
  void run_all(const std::vector<std::pair<std::string, std::function<void()>>>& jobs,
               const std::vector<std::string>& keep = {});
  size_t size() const { return workers_.size(); }

 private:
  struct Worker {
    std::thread thread;
    std::function<void()> job;
    bool quit = false;
  };
  void loop(Worker* w);
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  int pending_ = 0;
  std::map<std::string, std::unique_ptr<Worker>> workers_;
};

}  // namespace polarstack::core
