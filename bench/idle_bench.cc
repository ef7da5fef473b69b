// The control plane's cost at rest, with 1, 10 and 50 clusters of 1 primary + 1 reader
// applied at once (each step adds clusters to the ones already running):
//   - time from apply to all Ready;
//   - CPU per idle cluster by process kind (server, Cluster Manager, proxy, instance
//     managers, PostgreSQL), over a window once every CM has its reader standing by,
//     next to the machine's own idle CPU measured in the same run before any cluster;
//   - forks per second on the machine, RSS of each process kind (median and max);
//   - failovers during a hold (--hold-seconds, default 600 at the largest step).
// Usage: idle_bench [--steps 1,10,50] [--window-seconds 30] [--hold-seconds 600]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "core/files.h"
#include "core/process.h"
#include "support/harness.h"

namespace ps = polarstack;
using namespace ps::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Proc {
  std::string kind;
  int64_t ticks = 0;
  long rss_kib = 0;
};

// Every process of this server's home by kind: PostgreSQL is each postmaster started
// under the home and all its children.
std::map<pid_t, Proc> snapshot(const std::string& home) {
  std::map<pid_t, Proc> out;
  std::map<pid_t, pid_t> parent;
  std::map<pid_t, int64_t> ticks;
  std::set<pid_t> postmasters;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    auto text = ps::core::read_file("/proc/" + name + "/stat");
    if (!text) continue;
    auto close = text->rfind(')');
    std::istringstream f(text->substr(close + 2));
    std::string state;
    int64_t ppid, x, ut, st;
    f >> state >> ppid;
    for (int i = 0; i < 9; ++i) f >> x;
    f >> ut >> st;
    parent[pid] = static_cast<pid_t>(ppid);
    ticks[pid] = ut + st;
    auto argv = ps::core::process_cmdline(pid);
    std::string line;
    for (const auto& a : argv) line += a + " ";
    if (line.find(home) == std::string::npos) continue;
    std::string base = argv.empty() ? "" : std::filesystem::path(argv[0]).filename().string();
    std::string kind;
    if (base == "polarstack" && argv.size() > 1) kind = "polarstack " + argv[1];
    else if (base == "polarstack-instance") kind = "instance manager";
    else if (base == "postgres") {
      kind = "postgres";
      postmasters.insert(pid);
    } else continue;
    out[pid] = {kind, ut + st, ps::core::rss_kib(pid)};
  }
  for (const auto& [pid, pp] : parent) {
    if (postmasters.count(pp)) out[pid] = {"postgres", ticks[pid], ps::core::rss_kib(pid)};
  }
  return out;
}

std::string cluster_yaml(const std::string& name) {
  return "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: " + name + "\nspec:\n  readers: 1\n";
}

bool all_ready(const ServerProcess& s, int n) {
  auto list = s.client()->list(ps::kube::clusters_ref(), "default");
  if (!list) return false;
  int ready = 0;
  for (const auto& c : list->value("items", ps::core::Json::array())) {
    int replicas = 0;
    const auto* is = ps::core::find_path(c, "status.instances");
    for (const auto& i : is && is->is_array() ? *is : ps::core::Json::array()) {
      replicas += i.value("role", "") == "replica" && i.value("ready", false);
    }
    ready += ps::core::string_at(c, "status.phase") == "Running" && replicas == 1;
  }
  return ready >= n;
}

ps::core::Json cm_state(const ServerProcess& s, const std::string& name) {
  auto t = ps::core::read_file(s.home() + "/data/clusters/default." + name + "/cm/state.json");
  auto j = t ? ps::core::parse_json(*t) : ps::core::Result<ps::core::Json>(ps::core::Json());
  return j && j->is_object() ? *j : ps::core::Json::object();
}

int failovers(const ServerProcess& s, int n) {
  int f = 0;
  for (int i = 0; i < n; ++i) f += cm_state(s, "i" + std::to_string(i)).value("failovers", 0);
  return f;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures show as they come (a run takes a while)
  std::vector<int> steps{1, 10, 50};
  int window = 30, hold = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--steps") {
      steps.clear();
      std::stringstream ss(v);
      for (std::string t; std::getline(ss, t, ',');) steps.push_back(std::max(1, std::atoi(t.c_str())));
    }
    if (a == "--window-seconds") window = std::max(5, std::atoi(v.c_str()));
    if (a == "--hold-seconds") hold = std::max(0, std::atoi(v.c_str()));
  }
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ServerProcess server("", {{"POLARSTACK_CLUSTER_CONTROLLER", "on"}});
  // Baseline: the machine with the server running and no cluster.
  std::this_thread::sleep_for(3s);  // the server settles before the baseline window
  auto m0 = cpu_ticks();
  std::this_thread::sleep_for(std::chrono::seconds(window));  // the measurement window
  auto m1 = cpu_ticks();
  double base_busy = 1.0 - double(m1.second - m0.second) / double(std::max<int64_t>(1, m1.first - m0.first));
  std::printf("baseline: machine %.2f%% busy of %d cores with the server and no cluster (%d s)\n", 100 * base_busy, cores,
              window);
  int have = 0;
  for (size_t si = 0; si < steps.size(); ++si) {
    int n = steps[si];
    if (n <= have) continue;
    std::string yaml;
    for (int i = have; i < n; ++i) yaml += (i > have ? "---\n" : "") + cluster_yaml("i" + std::to_string(i));
    auto t0 = Clock::now();
    auto r = server.polarctl({"apply", "-f", server.write("i.yaml", yaml)});
    if (r.exit_code != 0) {
      std::fprintf(stderr, "apply failed: %s\n", r.err.c_str());
      return 1;
    }
    if (!wait_until([&] { return all_ready(server, n); }, 1800s)) {
      std::fprintf(stderr, "%d clusters did not all become Ready\n", n);
      return 1;
    }
    double to_ready = std::chrono::duration<double>(Clock::now() - t0).count();
    // Idle: every CM has its reader standing by.
    wait_until([&] {
      for (int i = 0; i < n; ++i) {
        if (cm_state(server, "i" + std::to_string(i)).value("standingBy", ps::core::Json::array()).size() != 1) return false;
      }
      return true;
    }, 600s);
    std::this_thread::sleep_for(5s);  // the last writes of creation settle before measuring
    auto a = snapshot(server.home());
    auto f0 = forks_since_boot();
    auto c0 = cpu_ticks();
    std::this_thread::sleep_for(std::chrono::seconds(window));  // the measurement window
    auto b = snapshot(server.home());
    auto f1 = forks_since_boot();
    auto c1 = cpu_ticks();
    std::map<std::string, double> cpu;  // % of one core
    std::map<std::string, std::vector<double>> rss;
    std::map<std::string, int> count;
    for (const auto& [pid, p] : b) {
      ++count[p.kind];
      rss[p.kind].push_back(p.rss_kib / 1024.0);
      auto it = a.find(pid);
      if (it != a.end()) cpu[p.kind] += 100.0 * double(p.ticks - it->second.ticks) / hz / window;
    }
    double busy = 1.0 - double(c1.second - c0.second) / double(std::max<int64_t>(1, c1.first - c0.first));
    double total = 0;
    for (const auto& [k, v] : cpu) total += v;
    std::printf("\n%d idle clusters of 1+1: all Ready %.1f s after apply; %d s window\n", n, to_ready, window);
    std::printf("  machine: %.2f%% busy of %d cores (baseline %.2f%%), %.2f forks/s\n", 100 * busy, cores, 100 * base_busy,
                double(f1 - f0) / window);
    std::printf("  control plane and databases: %.2f%% of one core in all, %.3f%% per cluster\n", total, total / n);
    std::printf("  %-20s %6s %12s %14s %10s %10s\n", "kind", "count", "CPU % core", "per cluster", "RSS med", "RSS max");
    for (const auto& [k, c] : count) {
      auto& v = rss[k];
      std::printf("  %-20s %6d %12.2f %14.3f %8.1f MB %8.1f MB\n", k.c_str(), c, cpu[k], cpu[k] / n, median(v),
                  v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()));
    }
    std::printf("  failovers so far: %d\n", failovers(server, n));
    have = n;
  }
  if (hold > 0) {
    auto t0 = Clock::now();
    int ok_rounds = 0, rounds = 0;
    while (Clock::now() - t0 < std::chrono::seconds(hold)) {
      std::this_thread::sleep_for(10s);  // the interval between looks during the hold
      ++rounds;
      ok_rounds += all_ready(server, have);
    }
    std::printf("\nhold: %d s with %d clusters: all Ready at %d of %d looks, failovers %d\n", hold, have, ok_rounds, rounds,
                failovers(server, have));
  }
  return 0;
}
