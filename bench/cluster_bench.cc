// Real-cluster figures in local mode, each next to a baseline measured in the same run:
//   1. apply -> Ready for 1 primary + 2 readers, vs bare initdb + 2 x pg_basebackup
//   2. adding one reader to a database of --scale pgbench units (70 ~ 1 GB) vs a bare
//      pg_basebackup of it (target ratio <= 1.15)
//   3. pgbench -S through the read-write endpoint vs directly on the primary (target >= 0.9)
//   4. RSS and idle CPU of the server, each instance manager, the proxy and the Cluster Manager
// Usage: cluster_bench [--scale N] [--seconds S]
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include "core/base64.h"
#include "core/files.h"
#include "core/process.h"
#include "support/harness.h"

namespace ps = polarstack;
using namespace ps::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {
const std::string kBin = "/usr/lib/postgresql/15/bin/";

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Runs a PostgreSQL tool as the postgres user when we are root.
RunResult pg_tool(std::vector<std::string> argv, std::map<std::string, std::string> env = {}) {
  if (::geteuid() == 0) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  return run(argv, env, "", 1800s);
}

ps::core::Json cluster(const ServerProcess& s) {
  auto c = s.client()->get(ps::kube::clusters_ref(), "default", "b");
  return c ? *c : ps::core::Json();
}
int ready_replicas(const ps::core::Json& c) {
  int n = 0;
  const auto* is = c.is_null() ? nullptr : ps::core::find_path(c, "status.instances");
  for (const auto& i : is ? *is : ps::core::Json::array()) n += i.value("role", "") == "replica" && i.value("ready", false);
  return n;
}
bool running_with(const ServerProcess& s, int readers) {
  auto c = cluster(s);
  return ps::core::string_at(c, "status.phase") == "Running" && ready_replicas(c) == readers;
}
int port_of(const ps::core::Json& c, const std::string& ep) {
  std::string v = ps::core::string_at(c, "status.endpoints." + ep);
  return v.empty() ? 0 : std::stoi(v.substr(v.rfind(':') + 1));
}
double tps(const RunResult& r) {
  std::smatch m;
  static const std::regex re("tps = ([0-9.]+)");
  return std::regex_search(r.out, m, re) ? std::stod(m[1]) : 0;
}
double cpu_seconds(pid_t pid) {
  auto text = ps::core::read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return 0;
  auto close = text->rfind(')');
  std::istringstream in(text->substr(close + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> f; ++i) {
    if (i == 14) utime = std::stol(f);
    if (i == 15) stime = std::stol(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}
// Proportional set size and private memory (kB) from smaps_rollup: RSS counts every
// shared library page in full in every process that maps it; PSS splits it among them.
std::pair<long, long> pss_private_kib(pid_t pid) {
  auto text = ps::core::read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  long pss = 0, priv = 0;
  if (!text) return {0, 0};
  std::istringstream in(*text);
  std::string key;
  long v;
  std::string unit;
  while (in >> key) {
    if (key == "Pss:" && in >> v >> unit) pss = v;
    else if ((key == "Private_Clean:" || key == "Private_Dirty:") && in >> v >> unit) priv += v;
  }
  return {pss, priv};
}
}  // namespace

int main(int argc, char** argv) {
  int scale = 70, seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--scale") scale = std::atoi(argv[i + 1]);
    if (a == "--seconds") seconds = std::atoi(argv[i + 1]);
  }
  TempDir tmp;
  std::string base = tmp.path() + "/baseline";
  ps::core::ensure_dir(base, 0777);
  ::chmod(base.c_str(), 0777);

  // 1. Baseline: the floor of a 1+2 create.
  auto t0 = Clock::now();
  pg_tool({kBin + "initdb", "-D", base + "/floor", "-A", "trust", "-U", "postgres", "--no-instructions"});
  double initdb_s = secs(Clock::now() - t0);

  ServerProcess server("", {{"POLARSTACK_CLUSTER_CONTROLLER", "on"}});
  std::string yaml = "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: b\nspec:\n  readers: 2\n";
  t0 = Clock::now();
  server.polarctl({"apply", "-f", server.write("b.yaml", yaml)});
  if (!wait_until([&] { return running_with(server, 2); }, 300s)) {
    std::cerr << "cluster did not become Ready\n";
    return 1;
  }
  double create_s = secs(Clock::now() - t0);
  auto c = cluster(server);
  int rw = port_of(c, "readWrite");
  int primary = 0;
  for (const auto& i : c["status"]["instances"]) primary = i.value("role", "") == "primary" ? i.value("port", 0) : primary;
  auto secret = server.client()->get(ps::kube::secrets_ref(), "default", "b-superuser");
  std::string pw = ps::core::base64_decode(ps::core::string_at(*secret, "data.password")).value_or("");
  std::map<std::string, std::string> env = {{"PGPASSWORD", pw}};
  t0 = Clock::now();
  pg_tool({kBin + "pg_basebackup", "-h", "127.0.0.1", "-p", std::to_string(primary), "-U", "postgres", "-D",
           base + "/empty-copy", "-X", "stream", "-c", "fast"}, env);
  double bb_empty_s = secs(Clock::now() - t0);
  std::printf("create 1+2: apply -> Ready %.2f s; floor: initdb %.2f s + 2 x pg_basebackup %.2f s = %.2f s (%.0f%% of it)\n",
              create_s, initdb_s, bb_empty_s, initdb_s + 2 * bb_empty_s, 100 * (initdb_s + 2 * bb_empty_s) / create_s);

  // 2. Add a reader to a loaded database vs a bare pg_basebackup.
  auto init = run({kBin + "pgbench", "-i", "-q", "-s", std::to_string(scale), "-h", "127.0.0.1", "-p", std::to_string(rw),
                   "-U", "postgres", "postgres"}, env, "", 1800s);
  if (init.exit_code != 0) {
    std::cerr << "pgbench -i failed: " << init.err << "\n";
    return 1;
  }
  auto size = run({kBin + "psql", "-h", "127.0.0.1", "-p", std::to_string(rw), "-U", "postgres", "-Atc",
                   "select pg_size_pretty(pg_database_size('postgres'))"}, env);
  t0 = Clock::now();
  pg_tool({kBin + "pg_basebackup", "-h", "127.0.0.1", "-p", std::to_string(primary), "-U", "postgres", "-D",
           base + "/copy", "-X", "stream", "-c", "fast"}, env);
  double bb_s = secs(Clock::now() - t0);
  t0 = Clock::now();
  server.polarctl({"scale", "b", "--readers", "3"});
  wait_until([&] { return running_with(server, 3); }, 1800s);
  double add_s = secs(Clock::now() - t0);
  std::printf("add one reader (database %s): %.2f s; bare pg_basebackup %.2f s; ratio %.2f (target <= 1.15)\n",
              size.out.substr(0, size.out.find('\n')).c_str(), add_s, bb_s, add_s / bb_s);

  // 3. pgbench -S through the endpoint vs direct, alternating, 3 rounds each.
  std::vector<double> via, direct;
  for (int round = 0; round < 3; ++round) {
    for (int p : {rw, primary}) {
      auto r = run({kBin + "pgbench", "-S", "-n", "-c", "4", "-j", "2", "-T", std::to_string(seconds), "-h", "127.0.0.1",
                    "-p", std::to_string(p), "-U", "postgres", "postgres"}, env, "", 600s);
      (p == rw ? via : direct).push_back(tps(r));
    }
  }
  std::sort(via.begin(), via.end());
  std::sort(direct.begin(), direct.end());
  auto routing = ps::core::read_file(server.home() + "/data/clusters/default.b/endpoints/routing.json");
  auto mode = routing ? ps::core::parse_json(*routing) : ps::core::Result<ps::core::Json>(ps::core::Json());
  std::string mode_name = mode && mode->is_object() ? mode->value("mode", "?") : "?";
  std::printf("pgbench -S -c4 (%d s x 3): via read-write endpoint (%s) median %.0f tps, direct median %.0f tps, ratio %.2f (target >= 0.9)\n",
              seconds, mode_name.c_str(), via[1], direct[1], via[1] / direct[1]);

  // 4. Footprint at rest.
  std::vector<std::pair<std::string, pid_t>> procs = {{"server", server.pid()}};
  for (const auto& e : std::filesystem::recursive_directory_iterator(server.home() + "/data")) {
    std::string f = e.path().filename();
    if (f != "instance.pid" && f != "proxy.pid" && f != "cm.pid") continue;
    auto text = ps::core::read_file(e.path());
    std::string label = f == "cm.pid" ? e.path().parent_path().parent_path().filename().string() + " (cluster manager)"
                        : e.path().parent_path().filename().string() + (f == "proxy.pid" ? " (proxy)" : " (manager)");
    if (text) procs.push_back({label, static_cast<pid_t>(std::atol(text->c_str()))});
  }
  std::vector<double> before;
  for (auto& [n, p] : procs) before.push_back(cpu_seconds(p));
  std::this_thread::sleep_for(5s);  // measuring idle CPU over a fixed window
  for (size_t i = 0; i < procs.size(); ++i) {
    auto [pss, priv] = pss_private_kib(procs[i].second);
    std::printf("  %-30s RSS %6.1f MB (PSS %5.1f MB, private %5.1f MB), idle CPU %.2f%%\n", procs[i].first.c_str(),
                static_cast<double>(ps::core::rss_kib(procs[i].second)) / 1024.0, static_cast<double>(pss) / 1024.0,
                static_cast<double>(priv) / 1024.0, 100.0 * (cpu_seconds(procs[i].second) - before[i]) / 5.0);
  }
  // 5. The control plane with 10 clusters (9 more, one instance each), at rest.
  for (int i = 1; i <= 9; ++i) {
    std::string n = "x" + std::to_string(i);
    server.polarctl({"apply", "-f", server.write(n + ".yaml", "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: " + n +
                                                              "\nspec:\n  readers: 0\n")});
  }
  bool all = wait_until([&] {
    auto l = server.client()->list(ps::kube::clusters_ref(), "default");
    if (!l) return false;
    int running = 0;
    for (const auto& c : (*l)["items"]) running += ps::core::string_at(c, "status.phase") == "Running";
    return running == 10;
  }, 600s);
  std::this_thread::sleep_for(5s);  // at rest: a fixed window for idle CPU
  double cpu0 = cpu_seconds(server.pid());
  std::this_thread::sleep_for(5s);
  auto [spss, spriv] = pss_private_kib(server.pid());
  std::printf("  server with 10 clusters%s: RSS %.1f MB (PSS %.1f MB, private %.1f MB), idle CPU %.2f%%\n",
              all ? "" : " (not all Running)", static_cast<double>(ps::core::rss_kib(server.pid())) / 1024.0,
              static_cast<double>(spss) / 1024.0, static_cast<double>(spriv) / 1024.0,
              100.0 * (cpu_seconds(server.pid()) - cpu0) / 5.0);
  std::printf("targets: instance manager <= 10 MB RSS, control plane <= 30 MB with 10 clusters\n");
  return 0;
}
