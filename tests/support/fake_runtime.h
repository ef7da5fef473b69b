// Fakes of the cluster domain's ports, for unit tests of the workflows without
// PostgreSQL: a FakeRuntime (both Runtime ports, one cluster of in-memory instances that
// restart, fence, promote and follow as the instance manager does) and a FakeClusterApi
// (the cluster object, ConfigMaps, events). Each records what it was asked, in order.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cluster/ports.h"
#include "runtime/runtime.h"

namespace polarstack::testing {

struct FakeInstance {
  std::string name, role = "replica", primary;  // primary: the instance it streams from
  int port = 0, pid = 0;
  bool ready = true, fenced = false;
  runtime::Configuration config, running;      // configured / what its postmaster runs with
  int start_failures = 0;
  std::string last_error;
};

class FakeRuntime : public runtime::Runtime {
 public:
  // A primary <cluster>-0 and `readers` replicas streaming from it, all with `config`.
  FakeRuntime(const std::string& cluster, int readers, runtime::Configuration config) {
    for (int i = 0; i <= readers; ++i) {
      FakeInstance f;
      f.name = cluster + "-" + std::to_string(i);
      f.role = i == 0 ? "primary" : "replica";
      f.primary = i == 0 ? "" : cluster + "-0";
      f.port = 20000 + i;
      f.pid = next_pid_++;
      f.config = f.running = config;
      instances[f.name] = f;
    }
  }
  std::map<std::string, FakeInstance> instances;
  std::vector<std::string> calls;  // "restart c-1", "configure c-1", "reload c-1", "fence c-0", ...
  // Whether PostgreSQL starts with a configuration (default: always), and what a reload
  // refuses ("name: why" lines).
  std::function<bool(const runtime::Configuration&)> starts = [](const runtime::Configuration&) { return true; };
  std::function<std::vector<std::string>(const runtime::Configuration&)> reload_refuses =
      [](const runtime::Configuration&) { return std::vector<std::string>{}; };
  bool paused = false;
  std::vector<std::string> engines = {"15.18", "15.20"};

  int calls_of(const std::string& what) const {
    int n = 0;
    for (const auto& c : calls) n += c == what;
    return n;
  }
  int calls_starting(const std::string& prefix) const {
    int n = 0;
    for (const auto& c : calls) n += c.rfind(prefix, 0) == 0;
    return n;
  }
  std::string primary() const {
    for (const auto& [n, f] : instances) {
      if (f.role == "primary" && !f.fenced) return n;
    }
    return "";
  }

  // --- Placement
  core::Status ensure_secrets(const runtime::ClusterKey&) override { return {}; }
  core::Result<std::string> superuser_password(const runtime::ClusterKey&) override { return std::string("pw"); }
  core::Result<runtime::InstanceInfo> ensure_instance(const runtime::ClusterKey&, const runtime::InstanceSpec& spec) override {
    auto it = instances.find(spec.name);
    if (it == instances.end()) return core::fail(core::Code::kNotFound, "no " + spec.name);
    return info(it->second);
  }
  core::Result<std::vector<runtime::InstanceInfo>> list_instances(const runtime::ClusterKey&) override {
    std::vector<runtime::InstanceInfo> out;
    for (const auto& [n, f] : instances) out.push_back(info(f));
    return out;
  }
  core::Result<std::string> resolve_engine(const std::string& engine) override {
    if (engine.empty() || engine == "15") return engines.front();
    for (const auto& e : engines) {
      if (e == engine) return e;
    }
    return core::fail(core::Code::kInvalid, "PostgreSQL " + engine + " is not installed");
  }
  core::Status ensure_cluster_manager(const runtime::ClusterKey&) override { return {}; }
  bool cluster_manager_running(const runtime::ClusterKey&) override { return true; }
  core::Status remove_cluster_manager(const runtime::ClusterKey&) override { return {}; }
  core::Status set_ha_paused(const runtime::ClusterKey&, bool p) override {
    if (p != paused) calls.push_back(p ? "pause-ha" : "resume-ha");
    paused = p;
    return {};
  }
  bool ha_paused(const runtime::ClusterKey&) override { return paused; }
  core::Status remove_instance(const runtime::ClusterKey&, const std::string& name, bool) override {
    instances.erase(name);
    return {};
  }
  core::Result<runtime::EndpointsInfo> ensure_endpoints(const runtime::ClusterKey&, int, int) override {
    return runtime::EndpointsInfo{30000, 30001, true};
  }
  core::Status remove_endpoints(const runtime::ClusterKey&) override { return {}; }
  bool endpoints_running(const runtime::ClusterKey&) override { return true; }
  core::Status remove_cluster(const runtime::ClusterKey&, bool) override { return {}; }
  std::string check_port(const runtime::ClusterKey&, int) override { return ""; }

  // --- InstanceAgent
  core::Result<runtime::InstanceState> instance_state(const runtime::ClusterKey&, const std::string& name) override {
    auto it = instances.find(name);
    if (it == instances.end()) return core::fail(core::Code::kNotFound, "no " + name);
    const FakeInstance& f = it->second;
    runtime::InstanceState s;
    s.reachable = true;
    s.role = f.fenced ? "unknown" : f.role;
    s.state = f.fenced ? "Fenced" : f.ready ? "Running" : "Restarting";
    s.ready = f.ready && !f.fenced;
    s.lsn = f.role == "primary" ? "0/100" : "0/200";  // replicas have replayed past the primary's start and fence
    s.start_lsn = f.role == "primary" ? "0/50" : "";
    s.postmaster_pid = f.ready ? f.pid : -1;
    s.fenced = f.fenced;
    s.fenced_lsn = f.fenced ? "0/100" : "";
    if (f.role == "replica" && f.ready && instances.count(f.primary)) s.sender_port = instances.at(f.primary).port;
    s.parameters = f.config.parameters;
    s.applied_parameters = f.running.parameters;
    s.engine = f.config.engine;
    s.cpu = f.config.cpu;
    s.memory = f.config.memory;
    s.start_failures = f.start_failures;
    s.last_error = f.last_error;
    return s;
  }
  core::Result<runtime::InstanceState> probe(const runtime::ClusterKey& c, const std::string& name, std::chrono::milliseconds,
                                             const runtime::CmGrant&) override {
    return instance_state(c, name);
  }
  bool wait_instance_event(const runtime::ClusterKey&, std::chrono::milliseconds) override { return false; }
  core::Status ensure_slot(const runtime::ClusterKey&, const std::string&, const std::string&) override { return {}; }
  core::Status drop_slot(const runtime::ClusterKey&, const std::string&, const std::string&) override { return {}; }
  core::Status detach(const runtime::ClusterKey&, const std::string&) override { return {}; }
  core::Status set_sync_standbys(const runtime::ClusterKey&, const std::string&, const std::vector<std::string>&, int) override {
    return {};
  }
  core::Status restart(const runtime::ClusterKey&, const std::string& name, int if_pid) override {
    FakeInstance& f = instances.at(name);
    if (if_pid > 0 && if_pid != f.pid) return {};  // another postmaster by now: nothing twice
    calls.push_back("restart " + name);
    start(f);
    return {};
  }
  core::Result<std::vector<std::string>> configure(const runtime::ClusterKey&, const std::string& name,
                                                   const runtime::Configuration& config, bool reload) override {
    FakeInstance& f = instances.at(name);
    calls.push_back((reload ? "reload " : "configure ") + name);
    f.config = config;
    if (!reload || !f.ready) return std::vector<std::string>{};
    auto refused = reload_refuses(config);
    if (refused.empty()) f.running.parameters = config.parameters;
    return refused;
  }
  core::Result<std::string> fence(const runtime::ClusterKey&, const std::string& name, std::chrono::milliseconds) override {
    FakeInstance& f = instances.at(name);
    if (!f.fenced) calls.push_back("fence " + name);
    f.fenced = true;
    f.ready = false;
    return std::string("0/100");
  }
  core::Status unfence(const runtime::ClusterKey&, const std::string& name) override {
    FakeInstance& f = instances.at(name);
    if (f.fenced) {
      calls.push_back("unfence " + name);
      f.fenced = false;
      start(f);
    }
    return {};
  }
  core::Status promote(const runtime::ClusterKey&, const std::string& name) override {
    FakeInstance& f = instances.at(name);
    calls.push_back("promote " + name);
    f.role = "primary";
    f.primary.clear();
    return {};
  }
  core::Status follow(const runtime::ClusterKey&, const std::string& name, const std::string& primary,
                      const std::string&) override {
    FakeInstance& f = instances.at(name);
    if (f.role == "replica" && f.primary == primary && !f.fenced) return {};
    calls.push_back("follow " + name + " " + primary);
    bool restarts = f.fenced || f.role == "primary";  // a former primary starts again as a replica
    f.role = "replica";
    f.primary = primary;
    f.fenced = false;
    if (restarts) start(f);
    return {};
  }

 private:
  runtime::InstanceInfo info(const FakeInstance& f) const {
    runtime::InstanceInfo i;
    i.name = f.name;
    i.role = f.name.ends_with("-0") ? "primary" : "replica";  // as created
    i.node = "local-1";
    i.port = f.port;
    i.api_port = f.port + 1000;
    i.manager_running = true;
    return i;
  }
  void start(FakeInstance& f) {
    f.pid = next_pid_++;
    if (starts(f.config)) {
      f.running = f.config;
      f.ready = true;
      f.start_failures = 0;
    } else {
      f.ready = false;
      f.start_failures = 2;
      f.last_error = "PostgreSQL did not start (exited with status 1): FATAL: refused by the fake";
    }
  }
  int next_pid_ = 1000;
};

class FakeClusterApi : public cluster::ClusterApi {
 public:
  core::Json cluster = {{"metadata", {{"name", "c"}, {"namespace", "default"}}}, {"spec", {{"readers", 2}}}};
  std::map<std::string, core::Json> config_maps;
  std::vector<std::string> events;  // reasons, in order

  core::Result<core::Json> get_cluster(const std::string&, const std::string&) override { return cluster; }
  core::Result<core::Json> get_config_map(const std::string&, const std::string& name) override {
    auto it = config_maps.find(name);
    if (it == config_maps.end()) return core::fail(core::Code::kNotFound, "no " + name);
    return it->second;
  }
  core::Status patch_cluster(const std::string&, const std::string&, const core::Json&) override { return {}; }
  core::Status ensure_secret(const std::string&, const std::string&, const std::map<std::string, std::string>&) override {
    return {};
  }
  core::Status delete_secret(const std::string&, const std::string&) override { return {}; }
  core::Status create_operation(const std::string&, const core::Json&) override { return {}; }
  core::Status patch_cluster_status(const std::string&, const std::string&, const core::Json&) override { return {}; }
  core::Result<core::Json> write_operation_status(const std::string&, const std::string&, const core::Json& s) override {
    return s;
  }
  core::Result<core::Json> patch_operation(const std::string&, const std::string&, const core::Json& p) override { return p; }
  core::Status delete_operation(const std::string&, const std::string&) override { return {}; }
  void record_event(const core::Json&, const std::string&, const std::string& reason, const std::string&) override {
    events.push_back(reason);
  }
  int events_of(const std::string& reason) const {
    int n = 0;
    for (const auto& e : events) n += e == reason;
    return n;
  }
};

}  // namespace polarstack::testing
