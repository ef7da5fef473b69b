// The control plane under load, on real PostgreSQL 15 clusters in local mode:
// - ten idle clusters fork nothing at a steady rate (probes run over long-lived
//   connections) and none fails over;
// - with both cores saturated by unrelated busy processes, or with the Cluster Manager
//   itself stopped (SIGSTOP) for longer than failureTimeoutMs and the lease, a healthy
//   primary is never failed over and never fences itself, and every acknowledged commit
//   is kept (async and sync replication).
// Figures are printed; what is asserted is behaviour, with generous bounds.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <optional>

#include "support/pg_cluster.h"

namespace polarstack::testing {
namespace {

using core::Json;

// Client sessions PostgreSQL has started so far (pg_stat_database.sessions): each one a
// backend forked by the postmaster. Read over `conn`, one long-lived connection.
int64_t sessions_so_far(engine::Connection& conn) {
  auto rows = conn.query("select coalesce(sum(sessions), 0)::bigint from pg_stat_database");
  if (!rows || rows->empty() || !(*rows)[0][0]) return -1;
  return std::stoll(*(*rows)[0][0]);
}

// True if `cond` holds at every look (every 100 ms) for `d`.
bool holds_for(const std::function<bool()>& cond, std::chrono::milliseconds d) {
  for (auto until = std::chrono::steady_clock::now() + d; std::chrono::steady_clock::now() < until;) {
    if (!cond()) return false;
    std::this_thread::sleep_for(100ms);  // the interval between looks
  }
  return cond();
}

int failovers_of(const Cluster& c, const Cm& cm) {
  const Json* f = core::find_path(c.get(), "status.ha.failovers");
  int from_status = f && f->is_number_integer() ? f->get<int>() : 0;
  return std::max(from_status, cm.state().value("failovers", 0));
}

// Busy processes, one per `n`, that spin until `for_how_long` has passed (so they end
// even if this test dies) or until killed here.
struct CpuHog {
  std::vector<pid_t> pids;
  CpuHog(int n, std::chrono::seconds for_how_long) {
    for (int i = 0; i < n; ++i) {
      pid_t p = ::fork();
      if (p == 0) {
        ::alarm(static_cast<unsigned>(for_how_long.count()) + 5);  // a bound whatever happens to the parent
        timespec start{}, now{};
        ::clock_gettime(CLOCK_MONOTONIC, &start);
        volatile uint64_t x = 0;
        do {
          for (int k = 0; k < 1000000; ++k) x = x + k;
          ::clock_gettime(CLOCK_MONOTONIC, &now);
        } while (now.tv_sec - start.tv_sec < for_how_long.count());
        ::_exit(0);
      }
      if (p > 0) pids.push_back(p);
    }
  }
  ~CpuHog() {
    for (pid_t p : pids) ::kill(p, SIGKILL);
    for (pid_t p : pids) ::waitpid(p, nullptr, 0);
  }
};

// The machine's busy share of all its cores over `d` (from /proc/stat).
double busy_share_during(std::chrono::milliseconds d) {
  auto a = cpu_ticks();
  std::this_thread::sleep_for(d);  // a measurement window, not synchronization
  auto b = cpu_ticks();
  return b.first == a.first ? 0 : 1.0 - double(b.second - a.second) / double(b.first - a.first);
}

TEST(LoadTest, TenIdleClustersForkNothingAndNeverFailOver) {
  ServerProcess server("", kClusters);
  constexpr int kN = 10;
  std::string yaml;
  for (int i = 0; i < kN; ++i) yaml += (i ? "---\n" : "") + cluster_yaml("l" + std::to_string(i), 1);
  auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(server.polarctl({"apply", "-f", server.write("l.yaml", yaml)}).exit_code, 0);
  std::vector<Cluster> cs;
  for (int i = 0; i < kN; ++i) cs.push_back(Cluster{server, "l" + std::to_string(i)});
  for (const auto& c : cs) ASSERT_TRUE(c.wait_ready(1, 600s)) << c.name << ": " << c.get().dump(1);
  std::printf("load: %d clusters of 1+1 Ready %.1f s after apply\n", kN,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  // Idle: every Cluster Manager has its replica standing by.
  for (const auto& c : cs) {
    Cm cm(server, c.name);
    ASSERT_TRUE(wait_until([&] { return cm.pid() > 0 && cm.standing_by() == 1; }, 120s)) << c.name << cm.state().dump(1);
  }
  // One long-lived connection per instance, opened before the window.
  std::vector<engine::Connection> conns;
  for (const auto& c : cs) {
    for (const auto& [name, port] : ports_of(c)) {
      auto cn = c.connect(port);
      ASSERT_TRUE(cn.has_value()) << name << ": " << cn.error().message;
      conns.push_back(std::move(*cn));
    }
  }
  std::vector<int64_t> before;
  for (auto& cn : conns) before.push_back(sessions_so_far(cn));
  int64_t forks_before = forks_since_boot();
  constexpr auto kWindow = 10s;
  double busy = busy_share_during(kWindow);
  int64_t forks = forks_since_boot() - forks_before;
  int64_t sessions = 0;
  for (size_t i = 0; i < conns.size(); ++i) {
    int64_t now = sessions_so_far(conns[i]);
    ASSERT_GE(now, 0);
    ASSERT_GE(before[i], 0);
    sessions += now - before[i];
  }
  std::printf("load: idle for %lld s with %d clusters: %lld new PostgreSQL sessions, %lld forks (%.1f/s) on the "
              "machine, %.1f%% of its CPU busy\n",
              static_cast<long long>(kWindow.count()), kN, static_cast<long long>(sessions),
              static_cast<long long>(forks), double(forks) / kWindow.count(), 100 * busy);
  // Probes open no connection: a session each per probe would be ~70 per second here.
  EXPECT_LE(sessions, 2) << "the control plane connects to PostgreSQL again and again at idle";
  // Autovacuum workers (2 a minute per instance) and threads fork now and then; a probe
  // forking each time would make ~100 a second.
  EXPECT_LT(forks, 30 * kWindow.count() / 10) << "processes are forked at a steady rate at idle";
  for (const auto& c : cs) EXPECT_EQ(failovers_of(c, Cm(server, c.name)), 0) << c.name;
}

struct Mode {
  std::string name, yaml;
  friend void PrintTo(const Mode& m, std::ostream* os) { *os << m.name; }
};
class StabilityTest : public ::testing::TestWithParam<Mode> {
 protected:
  // A 1+1 cluster `name` in this mode: Ready, its reader standing by in the CM's eyes,
  // table w created; remembers its primary and that primary's postmaster.
  void start(const std::string& name) {
    server_.emplace("", kClusters);
    c_.emplace(Cluster{*server_, name});
    cm_.emplace(*server_, name);
    ASSERT_EQ(server_->polarctl({"apply", "-f", server_->write("c.yaml", cluster_yaml(name, 1, GetParam().yaml))}).exit_code, 0);
    ASSERT_TRUE(c_->wait_ready(1)) << c_->get().dump(1);
    ASSERT_TRUE(wait_until([&] { return cm_->pid() > 0 && cm_->standing_by() == 1; }, 60s)) << cm_->state().dump(1);
    rw_ = c_->port("readWrite");
    ASSERT_TRUE(c_->connect(rw_)->exec("create table w (id int primary key)").has_value());
    primary_ = core::string_at(c_->get(), "status.currentPrimary");
    pm_ = postmaster_of(*c_, ports_of(*c_)[primary_]);
    ASSERT_GT(pm_, 0);
  }
  // What must hold after a disturbance that is not a failure: the same primary with the
  // same postmaster, no failover, and every acknowledged commit present.
  void expect_undisturbed(Writer& writer) {
    writer.stop();
    auto acked = writer.acknowledged();
    EXPECT_GT(acked.size(), 100u) << "the writer made too little progress to prove anything: " << writer.last_error();
    EXPECT_EQ(failovers_of(*c_, *cm_), 0) << cm_->state().dump(1);
    EXPECT_EQ(core::string_at(c_->get(), "status.currentPrimary"), primary_);
    EXPECT_EQ(postmaster_of(*c_, ports_of(*c_)[primary_]), pm_) << "the primary's PostgreSQL was stopped (fenced?)";
    EXPECT_EQ(count_present(*c_, rw_, acked), std::to_string(acked.size())) << "acknowledged commits are missing";
    std::printf("stability: %zu commits acknowledged, %d writes failed, all present\n", acked.size(), writer.failures());
  }
  std::optional<ServerProcess> server_;
  std::optional<Cluster> c_;
  std::optional<Cm> cm_;
  int rw_ = 0, pm_ = 0;
  std::string primary_;
};

// Both cores saturated by unrelated busy processes for two minutes.
TEST_P(StabilityTest, SaturatedCpuDoesNotFailOverAHealthyPrimary) {
  ASSERT_NO_FATAL_FAILURE(start("hog"));
  const Cluster& c = *c_;
  const Cm& cm = *cm_;
  const std::string primary = primary_;
  Writer writer(c, rw_);
  constexpr auto kHog = 120s;
  double busy;
  {
    CpuHog hog(2 * static_cast<int>(std::max(2u, std::thread::hardware_concurrency())), kHog);
    busy = busy_share_during(kHog);
  }
  std::printf("stability (%s): the machine was %.0f%% busy for %lld s; CM lag rounds %lld, longest %lld ms\n",
              GetParam().name.c_str(), 100 * busy, static_cast<long long>(kHog.count()),
              static_cast<long long>(cm.state().value("lagRounds", 0)),
              static_cast<long long>(cm.state().value("maxLagMs", 0)));
  EXPECT_GT(busy, 0.9) << "the hog did not saturate the machine";
  expect_undisturbed(writer);
}

// The Cluster Manager stopped (SIGSTOP) for three times failureTimeoutMs and twice the
// lease, then continued: it notices it was not running and blames nobody.
TEST_P(StabilityTest, StalledCmDoesNotFailOverAHealthyPrimary) {
  ASSERT_NO_FATAL_FAILURE(start("st"));
  const Cluster& c = *c_;
  const Cm& cm = *cm_;
  const std::string primary = primary_;
  Writer writer(c, rw_);
  for (int round = 0; round < 2; ++round) {
    int64_t lag_rounds = cm.state().value("lagRounds", int64_t{0});
    pid_t p = cm.pid();
    ASSERT_GT(p, 0);
    ASSERT_EQ(::kill(p, SIGSTOP), 0);
    struct Resume {
      pid_t pid;
      ~Resume() { ::kill(pid, SIGCONT); }
    } resume{p};
    auto stopped_at = std::chrono::steady_clock::now();
    // The CM stays stopped for 6 s: the measured disturbance, not synchronization.
    std::this_thread::sleep_for(6s);
    ::kill(p, SIGCONT);
    // It notices it was not running (state.json says so) ...
    EXPECT_TRUE(wait_until([&] { return cm.state().value("lagRounds", int64_t{0}) > lag_rounds; }, 30s)) << cm.state().dump(1);
    EXPECT_GE(cm.state().value("maxLagMs", int64_t{0}), 5000) << cm.state().dump(1);
    // ... and goes on: a few probe rounds later the cluster is as it was.
    EXPECT_TRUE(wait_until([&] { return c.ready(1, primary); }, 30s)) << c.get().dump(1);
    std::printf("stability (%s): CM stopped %.1f s; it counted %lld late rounds, longest %lld ms\n", GetParam().name.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count(),
                static_cast<long long>(cm.state().value("lagRounds", 0)),
                static_cast<long long>(cm.state().value("maxLagMs", 0)));
  }
  // For twice failureTimeoutMs after the last stall (when a false failover would have
  // happened), the primary stays and commits go on.
  EXPECT_TRUE(holds_for([&] { return failovers_of(c, cm) == 0 && core::string_at(c.get(), "status.currentPrimary") == primary; },
                        4s));
  EXPECT_LT(std::chrono::steady_clock::now() - writer.last_ack(), 2s) << writer.last_error();
  expect_undisturbed(writer);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, StabilityTest,
    ::testing::Values(Mode{"async", ""}, Mode{"sync", "  replication:\n    mode: sync\n    syncReplicas: 1\n"}),
    [](const ::testing::TestParamInfo<Mode>& i) { return i.param.name; });

}  // namespace
}  // namespace polarstack::testing
