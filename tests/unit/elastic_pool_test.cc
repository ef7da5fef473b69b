// The API server's worker pool: threads come with a burst and go after it, even while a
// trickle of requests goes on.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "apiserver/elastic_pool.h"
#include "support/harness.h"

namespace polarstack {
namespace {
using namespace std::chrono_literals;

TEST(ElasticPool, ABurstsThreadsEndWhileATrickleOfJobsGoesOn) {
  apiserver::ElasticPool pool(1, 16, 300ms);
  // A burst: 16 jobs that all run at once, so 16 threads.
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  bool release = false;
  for (int i = 0; i < 16; ++i) {
    pool.enqueue([&] {
      std::unique_lock<std::mutex> lock(mu);
      ++running;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return running == 16; }));
    release = true;
    cv.notify_all();
  }
  EXPECT_EQ(pool.threads(), 16u);
  // Then one short job every 10 ms: one thread serves them all and the others end.
  std::atomic<int> done{0};
  int sent = 0;
  bool shrank = testing::wait_until(
      [&] {
        pool.enqueue([&] { ++done; });
        ++sent;
        std::this_thread::sleep_for(10ms);  // the trickle's pace, not a wait for a result
        return pool.threads() <= 2;
      },
      10s);
  EXPECT_TRUE(shrank) << pool.threads() << " threads still, after " << sent << " jobs";
  EXPECT_TRUE(testing::wait_until([&] { return done.load() == sent; }, 5s)) << "every job ran";
  pool.shutdown();
  EXPECT_EQ(pool.threads(), 0u);
}

TEST(ElasticPool, JobsBeyondTheLimitWaitForAThread) {
  apiserver::ElasticPool pool(0, 2, 10s);
  std::atomic<int> done{0};
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  for (int i = 0; i < 2; ++i) {
    pool.enqueue([&] {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return release; });
      ++done;
    });
  }
  for (int i = 0; i < 5; ++i) pool.enqueue([&] { ++done; });
  EXPECT_LE(pool.threads(), 2u);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(testing::wait_until([&] { return done.load() == 7; }, 5s)) << done.load();
  pool.shutdown();
  EXPECT_EQ(pool.threads(), 0u);
}

}  // namespace
}  // namespace polarstack
