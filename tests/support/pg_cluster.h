// Helpers for tests on real PostgreSQL clusters in local mode (cluster_test.cc,
// load_test.cc): a cluster seen through the API, a writer that records every
// acknowledged commit, the Cluster Manager's state, and cleanup of everything started.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/base64.h"
#include "core/files.h"
#include "core/process.h"
#include "engine/pg.h"
#include "support/harness.h"

namespace polarstack::testing {

using namespace std::chrono_literals;

inline const std::map<std::string, std::string> kClusters = {{"POLARSTACK_CLUSTER_CONTROLLER", "on"}};

inline std::string cluster_yaml(const std::string& name, int readers, const std::string& extra = "") {
  return "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: " + name +
         "\nspec:\n  readers: " + std::to_string(readers) + "\n" + extra;
}

struct Cluster {
  const ServerProcess& server;
  std::string name;

  core::Json get() const {
    auto c = server.client()->get(kube::clusters_ref(), "default", name);
    return c ? *c : core::Json();
  }
  static core::Json instances_of(const core::Json& c) {
    const core::Json* i = c.is_null() ? nullptr : core::find_path(c, "status.instances");
    return i && i->is_array() ? *i : core::Json::array();
  }
  core::Json instances() const { return instances_of(get()); }
  // Running with exactly `readers` ready readers and one primary.
  bool ready(int readers, const std::string& primary = "") const {
    core::Json c = get();  // one read: every condition holds of the same status
    if (!primary.empty() && core::string_at(c, "status.currentPrimary") != primary) return false;
    int replicas = 0;
    for (const auto& i : instances_of(c)) {
      if (i.value("role", "") == "replica" && i.value("ready", false)) ++replicas;
    }
    return core::string_at(c, "status.phase") == "Running" && replicas == readers &&
           instances_of(c).size() == static_cast<size_t>(readers + 1);
  }
  // Every one of `instances` ready, `primary` the primary, whatever the phase (e.g.
  // Interrupted by an operation that waits for a human).
  bool instances_ready(size_t instances, const std::string& primary) const {
    core::Json c = get();
    if (core::string_at(c, "status.currentPrimary") != primary) return false;
    auto list = instances_of(c);
    return list.size() == instances &&
           std::all_of(list.begin(), list.end(), [](const core::Json& i) { return i.value("ready", false); });
  }
  bool wait_ready(int readers, std::chrono::seconds timeout = 180s) const {
    return wait_until([&] { return ready(readers); }, timeout);
  }
  std::string password() const {
    auto s = server.client()->get(kube::secrets_ref(), "default", name + "-superuser");
    if (!s) return "";
    return core::base64_decode(core::string_at(*s, "data.password")).value_or("");
  }
  int port(const std::string& endpoint) const {
    std::string ep = core::string_at(get(), "status.endpoints." + endpoint);
    return ep.empty() ? 0 : std::stoi(ep.substr(ep.rfind(':') + 1));
  }
  std::vector<int> reader_ports() const {
    std::vector<int> out;
    for (const auto& i : instances()) {
      if (i.value("role", "") == "replica") out.push_back(i.value("port", 0));
    }
    return out;
  }
  core::Result<engine::Connection> connect(int port, const std::string& host = "127.0.0.1") const {
    return connect_as_superuser(port, host, password());
  }
  static core::Result<engine::Connection> connect_as_superuser(int port, const std::string& host, const std::string& password) {
    return engine::Connection::open({{"host", host}, {"port", std::to_string(port)}, {"user", "postgres"},
                                     {"password", password}, {"dbname", "postgres"}});
  }
  // The first value of `sql` on `port` ("" on any error).
  std::string value(int port, const std::string& sql, const std::string& host = "127.0.0.1") const {
    auto c = connect(port, host);
    if (!c) return "";
    auto rows = c->query(sql);
    if (!rows || rows->empty() || !(*rows)[0][0]) return "";
    return *(*rows)[0][0];
  }
};

// Stops every database, proxy and Cluster Manager started from `home` when it goes out of
// scope, whatever the test did: the kill -9 tests leave databases running on purpose for
// the next server, and an assertion failing in between must not leak them.
struct StopAllOnExit {
  std::string home;
  ~StopAllOnExit() { run({polarstack_bin(), "stop", "--all", "--home", home}); }
};

// A writer through the read-write endpoint that records every acknowledged commit.
// Commits a row every ~10 ms to `port` on `host`, reconnecting on errors, and records
// every acknowledged id. With `netns` (a network namespace file), from inside that
// namespace (setns applies to the writer's thread only).
class Writer {
 public:
  Writer(const Cluster& c, int port, std::string host = "127.0.0.1", std::string netns = "", int first_id = 1)
      : c_(c), port_(port), first_id_(first_id), host_(std::move(host)), netns_(std::move(netns)), thread_([this] { loop(); }) {}
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<int> acknowledged() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  int failures() const { return failures_.load(); }
  // When the last commit was acknowledged (the epoch if none was).
  std::chrono::steady_clock::time_point last_ack() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_ack_;
  }
  std::chrono::system_clock::time_point last_ack_wall() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_ack_wall_;
  }
  bool in_netns() const { return entered_.load(); }
  std::string last_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_error_;
  }

 private:
  void loop() {
    const std::string password = c_.password();  // from the API server: before leaving its network
    if (!netns_.empty()) {
      int fd = ::open(netns_.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {  // in_netns() stays false
        set_error("cannot enter " + netns_ + ": " + std::strerror(errno));
        return;
      }
      ::close(fd);
      entered_ = true;
    }
    std::optional<engine::Connection> conn;
    for (int id = first_id_; !stop_.load(); ++id) {
      if (!conn || !conn->ok()) {
        auto cn = Cluster::connect_as_superuser(port_, host_, password);
        conn.reset();
        if (cn) conn = std::move(*cn);
        else set_error(cn.error().message);
      }
      if (conn && conn->exec("insert into w values ($1)", {std::to_string(id)})) {
        std::lock_guard<std::mutex> lock(mu_);
        acked_.push_back(id);
        last_ack_ = std::chrono::steady_clock::now();
        last_ack_wall_ = std::chrono::system_clock::now();
      } else {
        ++failures_;
        conn.reset();
      }
      std::this_thread::sleep_for(10ms);  // load pacing: a commit every ~10 ms, not synchronization
    }
  }
  const Cluster& c_;
  int port_, first_id_;
  std::string host_, netns_;
  std::atomic<bool> entered_{false};
  std::chrono::steady_clock::time_point last_ack_{};
  std::chrono::system_clock::time_point last_ack_wall_{};
  std::string last_error_;
  void set_error(const std::string& e) {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = e;
  }
  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0};
  std::mutex mu_;
  std::vector<int> acked_;
  std::thread thread_;
};

// How many of the `acked` ids are in table w on `port` ("" on any error).
inline std::string count_present(const Cluster& c, int port, const std::vector<int>& acked) {
  std::string list;
  for (int id : acked) list += (list.empty() ? "" : ",") + std::to_string(id);
  return c.value(port, "select count(*) from w where id = any('{" + list + "}'::int[])");
}

// Instances (by port) that accept writes now.
inline int writable(const Cluster& c, const std::map<std::string, int>& ports) {
  std::map<std::string, std::string> hosts;  // instances on a node of their own network listen there
  for (const auto& i : c.instances()) hosts[i.value("name", "")] = i.value("host", "127.0.0.1");
  int n = 0;
  for (const auto& [name, p] : ports) {
    n += c.value(p, "select pg_is_in_recovery()", hosts.count(name) && !hosts[name].empty() ? hosts[name] : "127.0.0.1") == "f";
  }
  return n;
}

inline std::map<std::string, int> ports_of(const Cluster& c) {
  std::map<std::string, int> out;
  for (const auto& i : c.instances()) out[i.value("name", "")] = i.value("port", 0);
  return out;
}

// The Cluster Manager of a cluster: its pid (from cm.pid, alive) and its state.json.
struct Cm {
  std::string dir;
  Cm(const ServerProcess& server, const std::string& cluster)
      : dir(server.home() + "/data/clusters/default." + cluster + "/cm") {}
  pid_t pid() const {
    auto t = core::read_file(dir + "/cm.pid");
    pid_t p = t ? static_cast<pid_t>(std::atol(t->c_str())) : -1;
    return p > 0 && core::process_alive(p) ? p : -1;
  }
  // Replicas the CM would promote now (a replica that just came back must first stay
  // healthy for a while; until then a dead primary is restarted in place instead).
  size_t standing_by() const { return state().value("standingBy", core::Json::array()).size(); }
  core::Json state() const {
    auto t = core::read_file(dir + "/state.json");
    auto j = t ? core::parse_json(*t) : core::Result<core::Json>(core::Json());
    return j && j->is_object() ? *j : core::Json::object();
  }
};

inline bool has_event(const ServerProcess& server, const std::string& reason) {
  auto events = server.client()->list(kube::events_ref(), "default");
  if (!events) return false;
  for (const auto& e : events->value("items", core::Json::array())) {
    if (e.value("reason", "") == reason) return true;
  }
  return false;
}

// The postmaster pid of the instance on `port`, from PostgreSQL itself.
inline int postmaster_of(const Cluster& c, int port) {
  return std::atoi(c.value(port, "select pg_read_file('postmaster.pid', 0, 16)").c_str());
}

// When each instance's postmaster started (pg_postmaster_start_time()), by name.
inline std::map<std::string, std::string> start_times(const Cluster& c) {
  std::map<std::string, std::string> out;
  for (const auto& [name, port] : ports_of(c)) out[name] = c.value(port, "select pg_postmaster_start_time()");
  return out;
}

// Lines of the instance manager's log that mention `text`.
inline int log_lines(const ServerProcess& server, const std::string& cluster, const std::string& instance, const std::string& text) {
  int n = 0;
  std::error_code ec;
  for (const auto& node : std::filesystem::directory_iterator(server.home() + "/data/nodes", ec)) {
    std::ifstream log(node.path().string() + "/default." + cluster + "/" + instance + "/instance.log");
    for (std::string line; std::getline(log, line);) n += line.find(text) != std::string::npos;
  }
  return n;
}

// How many times the instance's manager carried out a restart asked for.
inline int restarts_done(const ServerProcess& server, const std::string& cluster, const std::string& instance) {
  return log_lines(server, cluster, instance, "restart requested");
}

// Events of `reason` about the cluster, counting repeats.
inline int events_of(const ServerProcess& server, const std::string& reason) {
  auto events = server.client()->list(kube::events_ref(), "default");
  int n = 0;
  for (const auto& e : events ? events->value("items", core::Json::array()) : core::Json::array()) {
    if (e.value("reason", "") == reason) n += std::max(1, e.value("count", 1));
  }
  return n;
}

// "polardboperation.polarstack.io/<name> created: ..." -> <name>
inline std::string created_name(const std::string& out) {
  auto slash = out.find('/'), space = out.find(' ');
  return slash == std::string::npos || space == std::string::npos || space < slash ? std::string()
                                                                                    : out.substr(slash + 1, space - slash - 1);
}

inline std::string ops_shown(const ServerProcess& server) {
  std::string s;
  auto all = server.client()->list(kube::operations_ref(), "default");
  for (const auto& o : all ? (*all)["items"] : core::Json::array()) {
    s += core::string_at(o, "metadata.name") + " " + core::string_at(o, "spec.type") + " " +
         core::string_at(o, "status.phase") + " " + core::string_at(o, "status.progress") + " " +
         core::string_at(o, "status.reason") + " " + core::string_at(o, "status.message") + "\n";
  }
  return s;
}

// The cluster's metadata.generation (0 if it cannot be read).
inline int64_t generation_of(const Cluster& c) {
  core::Json obj = c.get();
  const core::Json* g = core::find_path(obj, "metadata.generation");
  return g && g->is_number_integer() ? g->get<int64_t>() : 0;
}

// Applies `yaml` (the cluster changed) and waits, up to 240 s, for the operation the
// operator derives from it, <cluster>-<kind>-g<generation> (kind: "updateparameters",
// "upgrademinorversion", "changeclass"), to end: Succeeded, Failed or Interrupted. The
// operation, or null when it did not end.
inline core::Json apply_and_wait_derived(const ServerProcess& server, const Cluster& c, const std::string& yaml,
                                         const std::string& kind) {
  auto r = server.polarctl({"apply", "-f", server.write(c.name + ".yaml", yaml)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string name = c.name + "-" + kind + "-g" + std::to_string(generation_of(c));
  core::Json op;
  bool ended = wait_until([&] {
    auto o = server.client()->get(kube::operations_ref(), "default", name);
    op = o ? *o : core::Json();
    std::string phase = core::string_at(op, "status.phase");
    return phase == "Succeeded" || phase == "Failed" || phase == "Interrupted";
  }, 240s);
  EXPECT_TRUE(ended) << name << "\n" << ops_shown(server);
  return ended ? op : core::Json();
}

// kill -9 of the server after each of `steps` of an operation on a 1 + 2 cluster (a new
// operation each round, on the same cluster, with a server whose failpoint
// "after:<step>=crash" kills it): once a server is back the operation finishes, every
// instance was restarted, each reader once in place and the old primary by one
// switchover away from it, none twice. `start` starts the round's operation and returns
// its name; `check` looks at the cluster afterwards (optional).
inline void crash_after_each(const std::vector<std::string>& steps, const std::string& cluster,
                             const std::function<std::string(const ServerProcess&, const Cluster&, int)>& start,
                             const std::function<void(const Cluster&, int)>& check = {}) {
  TempDir home;
  StopAllOnExit stop_all{home.path()};
  {
    ServerProcess server(home.path(), kClusters);
    server.leave_databases_running();
    Cluster c{server, cluster};
    ASSERT_EQ(server.polarctl({"apply", "-f", server.write(cluster + ".yaml", cluster_yaml(cluster, 2))}).exit_code, 0);
    ASSERT_TRUE(c.wait_ready(2)) << c.get().dump(1);
  }
  int round = 0;
  for (const auto& step : steps) {
    SCOPED_TRACE(step);
    ++round;
    auto env = kClusters;
    env["POLARSTACK_FAILPOINTS"] = "after:" + step + "=crash";
    std::map<std::string, std::string> before;
    std::map<std::string, int> done_before;
    std::string primary, op_name;
    {
      ServerProcess crashing(home.path(), env);
      crashing.leave_databases_running();
      Cluster c{crashing, cluster};
      ASSERT_TRUE(c.wait_ready(2)) << c.get().dump(1);
      primary = core::string_at(c.get(), "status.currentPrimary");
      before = start_times(c);
      for (const auto& [n, t] : before) done_before[n] = restarts_done(crashing, cluster, n);
      op_name = start(crashing, c, round);
      ASSERT_FALSE(op_name.empty());
      ASSERT_TRUE(wait_until([&] { return !crashing.running(); }, 180s)) << "the failpoint never fired\n" << ops_shown(crashing);
    }
    ServerProcess server(home.path(), kClusters);
    server.leave_databases_running();
    Cluster c{server, cluster};
    std::string target;  // where this round's switchover moved the primary
    ASSERT_TRUE(wait_until([&] {
      auto o = server.client()->get(kube::operations_ref(), "default", op_name);
      target = o ? core::string_at(*o, "status.context.target") : "";
      return o && core::string_at(*o, "status.phase") == "Succeeded";
    }, 240s)) << ops_shown(server);
    EXPECT_NE(target, primary) << "one switchover, away from the primary";
    // Status follows the instances within the operator's next observation.
    ASSERT_TRUE(wait_until([&] { return c.ready(2, target); }, 120s)) << c.get().dump(1);
    auto after = start_times(c);
    for (const auto& [n, t] : before) {
      EXPECT_NE(after[n], t) << n << " was not restarted";
      // In place: the readers of this round once each; the old primary by the switchover.
      EXPECT_EQ(restarts_done(server, cluster, n) - done_before[n], n == primary ? 0 : 1) << n;
    }
    if (check) check(c, round);
  }
}

}  // namespace polarstack::testing
