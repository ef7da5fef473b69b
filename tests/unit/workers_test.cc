// core::KeyedWorkers: one long-lived thread per key, jobs run at once, workers of keys no
// longer named are stopped.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/workers.h"

namespace polarstack::core {
namespace {

TEST(KeyedWorkers, RunsEachJobOnItsKeysOwnThreadAgainAndAgain) {
  KeyedWorkers w;
  std::map<std::string, std::thread::id> first;
  std::mutex mu;
  for (int round = 0; round < 20; ++round) {
    std::map<std::string, std::thread::id> seen;
    std::vector<std::pair<std::string, std::function<void()>>> jobs;
    for (std::string k : {"a", "b", "c"}) {
      jobs.emplace_back(k, [&, k] {
        std::lock_guard<std::mutex> l(mu);
        seen[k] = std::this_thread::get_id();
      });
    }
    w.run_all(jobs);  // returns once all three ran
    ASSERT_EQ(seen.size(), 3u);
    if (round == 0) first = seen;
    EXPECT_EQ(seen, first) << "a key's jobs moved to another thread (a thread per round?)";
    EXPECT_NE(seen["a"], std::this_thread::get_id());
  }
  EXPECT_EQ(w.size(), 3u);
}

TEST(KeyedWorkers, JobsRunAtOnceAndUnnamedKeysAreStopped) {
  KeyedWorkers w;
  // Each job waits until both have started: run one after the other, they never would.
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  auto meet = [&] {
    std::unique_lock<std::mutex> l(mu);
    ++started;
    cv.notify_all();
    return cv.wait_for(l, std::chrono::seconds(10), [&] { return started >= 2; });
  };
  std::atomic<int> met{0};
  w.run_all({{"x", [&] { met += meet(); }}, {"y", [&] { met += meet(); }}});
  EXPECT_EQ(met.load(), 2);
  std::atomic<int> ran{0};
  w.run_all({{"y", [&] { ++ran; }}});
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(w.size(), 1u) << "the worker of x was not stopped";
  w.run_all({});
  EXPECT_EQ(w.size(), 0u);
}

// A key with no job this round but kept keeps its thread (the CM skips a replica's probe
// now and then: its prober must not be stopped and started again each time).
TEST(KeyedWorkers, KeptKeysKeepTheirThreads) {
  KeyedWorkers w;
  std::thread::id a1, a2;
  w.run_all({{"a", [&] { a1 = std::this_thread::get_id(); }}, {"b", [] {}}});
  w.run_all({{"b", [] {}}}, {"a", "b"});
  EXPECT_EQ(w.size(), 2u) << "a kept key's worker was stopped";
  w.run_all({{"a", [&] { a2 = std::this_thread::get_id(); }}}, {"a", "b"});
  EXPECT_EQ(a1, a2) << "a kept key's jobs moved to a new thread";
  w.run_all({{"a", [] {}}});
  EXPECT_EQ(w.size(), 1u);
}

}  // namespace
}  // namespace polarstack::core
