// API server benchmark, against a real `polarstack server` process over HTTPS:
//   - durable writes per second from 1 client and from 8 clients (creates and updates)
//   - watch delivery latency with 100 watchers (p50, p99, max)
//   - resident memory of the server with 10,000 stored objects
// Baseline in the same run, same disk: single-row SQLite commits with fsync (WAL,
// synchronous=FULL), the floor for one client's durable writes.
// Targets (issue 2): >= 1,500 writes/s (1 client), >= 5,000/s (8 clients),
// watch p99 <= 5 ms, <= 50 MB RSS with 10,000 objects.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "support/harness.h"

using namespace polarstack;
using Clock = std::chrono::steady_clock;
using core::Json;

namespace {

const kube::ResourceRef kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double baseline_sqlite_commits_per_s(const std::string& dir, int n) {
  sqlite3* db;
  sqlite3_open((dir + "/baseline.db").c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "INSERT INTO t(k, v) VALUES(?, ?)", -1, &st, nullptr);
  std::string value(400, 'x');
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_bind_int(st, 1, i);
    sqlite3_bind_text(st, 2, value.c_str(), -1, SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double rate = n / seconds_since(t0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rate;
}

Json configmap(const std::string& name, const std::string& ns, int64_t stamp) {
  return {{"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"bench", "yes"}}}}},
          {"data", {{"t", std::to_string(stamp)}, {"payload", std::string(300, 'p')}}}};
}

struct WriteResult {
  double per_second;
  double median_ms, p99_ms, max_ms;
};

// `clients` threads, each doing `per_client` writes through its own connection.
WriteResult run_writes(const kube::ClientConfig& cfg, int clients, int per_client, const std::string& prefix,
                       bool update) {
  std::vector<std::vector<double>> lat(clients);
  std::atomic<int> failures{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      kube::Client client(cfg);
      for (int i = 0; i < per_client; ++i) {
        std::string name = prefix + "-" + std::to_string(c) + "-" + std::to_string(i);
        auto s = Clock::now();
        auto r = update ? client.patch(kConfigMaps, "default", name, {{"data", {{"n", std::to_string(i)}}}})
                        : client.create(kConfigMaps, "default", configmap(name, "default", 0));
        if (!r) failures++;
        lat[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(t0);
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  if (failures) std::fprintf(stderr, "warning: %d failed writes\n", failures.load());
  return {clients * per_client / elapsed, percentile(all, 0.5), percentile(all, 0.99), percentile(all, 1.0)};
}

}  // namespace

int main(int argc, char** argv) {
  int scale = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;  // 1 = the sizes in the issue
  testing::ServerProcess server;
  auto cfg = server.config();
  if (cfg.server.empty()) {
    std::fprintf(stderr, "server did not start\n");
    return 1;
  }
  std::printf("polarstack API server benchmark (server pid %d, state in %s)\n\n", server.pid(), server.home().c_str());
  long idle_rss = core::rss_kib(server.pid());

  double base = baseline_sqlite_commits_per_s(server.home(), 500);
  std::printf("baseline: SQLite single-row commits with fsync on this disk: %.0f/s\n\n", base);

  std::printf("%-34s %10s %10s %10s %10s %12s\n", "durable writes", "per sec", "median ms", "p99 ms", "max ms",
              "vs baseline");
  auto row = [&](const char* what, const WriteResult& r, double target) {
    std::printf("%-34s %10.0f %10.2f %10.2f %10.2f %11.2fx   target >= %.0f/s: %s\n", what, r.per_second, r.median_ms,
                r.p99_ms, r.max_ms, r.per_second / base, target, r.per_second >= target ? "met" : "NOT met");
  };
  auto c1 = run_writes(cfg, 1, 2000 / scale, "one", false);
  row("creates, 1 client", c1, 1500);
  auto u1 = run_writes(cfg, 1, 2000 / scale, "one", true);
  row("updates, 1 client", u1, 1500);
  auto c8 = run_writes(cfg, 8, 1000 / scale, "eight", false);
  row("creates, 8 clients", c8, 5000);
  auto u8 = run_writes(cfg, 8, 1000 / scale, "eight", true);
  row("updates, 8 clients", u8, 5000);

  // Watch latency: 100 watchers, one writer creating an object every 5 ms.
  const int kWatchers = 100, kEvents = 200 / scale;
  std::vector<std::vector<double>> lat(kWatchers);
  std::atomic<int> ready{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> watchers;
  std::vector<std::unique_ptr<kube::Client>> wclients;
  auto list = kube::Client(cfg).list(kConfigMaps, "watch");
  std::string rv = list ? core::string_at(*list, "metadata.resourceVersion") : "";
  for (int w = 0; w < kWatchers; ++w) wclients.push_back(std::make_unique<kube::Client>(cfg));
  for (int w = 0; w < kWatchers; ++w) {
    watchers.emplace_back([&, w] {
      bool counted = false;
      wclients[w]->watch(kConfigMaps, "watch", {}, rv, [&](const kube::WatchEvent& ev) {
        if (!counted) {  // the first event is the warm-up object
          counted = true;
          ready++;
          return true;
        }
        int64_t sent = std::stoll(core::string_at(ev.object, "data.t"));
        int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
        lat[w].push_back((now - sent) / 1e6);
        return static_cast<int>(lat[w].size()) < kEvents;
      }, &stop);
    });
  }
  {
    kube::Client writer(cfg);
    writer.create(kConfigMaps, "watch", configmap("warmup", "watch", 0));
    testing::wait_until([&] { return ready.load() == kWatchers; }, std::chrono::seconds(30));
    for (int i = 0; i < kEvents; ++i) {
      int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
      writer.create(kConfigMaps, "watch", configmap("w" + std::to_string(i), "watch", now));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // pacing of the writer, not synchronisation
    }
  }
  testing::wait_until([&] {
    for (auto& v : lat) if (static_cast<int>(v.size()) < kEvents) return false;
    return true;
  }, std::chrono::seconds(30));
  stop = true;
  for (auto& t : watchers) t.join();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  double p99 = percentile(all, 0.99);
  std::printf("\nwatch delivery, %d watchers x %d events (%zu delivered; commit + fan-out + TLS)\n", kWatchers, kEvents,
              all.size());
  std::printf("  p50 %.2f ms   p99 %.2f ms   max %.2f ms   target p99 <= 5 ms: %s\n", percentile(all, 0.5), p99,
              percentile(all, 1.0), p99 <= 5 ? "met" : "NOT met");

  // Memory with 10,000 stored objects.
  kube::Client counter(cfg);
  auto l = counter.list(kConfigMaps, "");
  int have = l ? static_cast<int>((*l)["items"].size()) : 0;
  int need = 10000 - have;
  if (need > 0) run_writes(cfg, 8, need / 8 + 1, "fill", false);
  l = counter.list(kConfigMaps, "");
  int stored = l ? static_cast<int>((*l)["items"].size()) : 0;
  long rss = core::rss_kib(server.pid());
  std::printf("\nmemory: idle %.1f MB, with %d objects (~%zu bytes of JSON each) %.1f MB   target <= 50 MB: %s\n",
              idle_rss / 1024.0, stored, configmap("x", "default", 0).dump().size() + 200, rss / 1024.0,
              rss / 1024.0 <= 50 ? "met" : "NOT met");
  return 0;
}
