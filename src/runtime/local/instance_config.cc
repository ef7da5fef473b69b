// LocalRuntime: what instance managers report (GET /v1/status) and what they are
// configured with (POST /v1/configure: parameters, engine build, CPU and memory limits
// in cgroups), split from local_runtime.cc.
#include "api/instance_class.h"
#include "core/files.h"
#include "core/json.h"
#include "instance/config.h"
#include "instance/engines.h"
#include "runtime/local/cgroups.h"
#include "runtime/local/local_runtime.h"

namespace polarstack::runtime::local {

using core::Code;

core::Result<InstanceState> LocalRuntime::state_from(const core::Result<std::string>& body) {
  InstanceState s;
  if (!body) {
    if (body.error().code == Code::kNotFound) return std::unexpected(body.error());
    s.last_error = body.error().message;
    return s;
  }
  auto j = core::parse_json(*body);
  if (!j) return std::unexpected(j.error());
  s.reachable = true;
  s.role = j->value("role", "unknown");
  s.state = j->value("state", "");
  s.ready = j->value("ready", false);
  s.lsn = j->value("lsn", "");
  s.received_lsn = j->value("receivedLsn", "");
  s.timeline = j->value("timeline", int64_t{0});
  s.postmaster_pid = j->value("postmasterPid", -1);
  s.sender_port = j->value("senderPort", 0);
  s.data_dir_bytes = j->value("dataDirBytes", int64_t{0});
  s.restarts = j->value("restarts", 0);
  s.version = j->value("version", "");
  s.fenced = j->value("fenced", false);
  s.sync_standby_names = j->value("syncStandbyNames", "");
  s.fenced_lsn = j->value("fencedLsn", "");
  s.term = j->value("term", uint64_t{0});
  s.detached = j->value("detached", false);
  s.lease_remaining_ms = j->value("leaseRemainingMs", int64_t{0});
  s.orphans_killed = j->value("orphansKilled", -1);
  s.orphan_window_us = j->value("orphanWindowUs", int64_t{-1});
  s.last_error = j->value("lastError", "");
  s.start_failures = j->value("startFailures", 0);
  s.engine = j->value("engine", "");
  s.start_lsn = j->value("startLsn", "");
  if (auto r = j->find("resources"); r != j->end() && r->is_object()) {
    s.cpu = r->value("cpu", "");
    s.memory = r->value("memory", "");
  }
  auto strings = [&](const char* k, std::map<std::string, std::string>& out) {
    if (auto it = j->find(k); it != j->end() && it->is_object()) {
      for (const auto& [n, v] : it->items()) out[n] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  };
  strings("parameters", s.parameters);
  strings("appliedParameters", s.applied_parameters);
  if (auto it = j->find("pendingRestart"); it != j->end() && it->is_array()) {
    for (const auto& v : *it) {
      if (v.is_string()) s.pending_restart.push_back(v.get<std::string>());
    }
  }
  return s;
}

core::Result<std::string> LocalRuntime::resolve_engine(const std::string& engine) {
  auto e = instance::find_engine(opts_.data_root, engine);
  if (!e) return std::unexpected(e.error());
  return e->version;
}

core::Result<std::vector<std::string>> LocalRuntime::configure(const ClusterKey& c, const std::string& name,
                                                               const Configuration& config, bool reload) {
  core::Json body = {{"parameters", config.parameters}, {"reload", reload}};
  // Limits apply at once, to the manager and every process under it.
  std::string dir = find_instance(c, name, nullptr);
  if (dir.empty()) return core::fail(Code::kNotFound, "instance " + c.str() + "/" + name + " does not exist");
  auto have = instance::load_config({dir});
  if (!have) return std::unexpected(have.error());
  std::vector<std::string> dirs = have->cgroups;
  if (!config.cpu.empty() || !config.memory.empty() || !have->cgroups.empty()) {  // limits to set, or to lift
    auto set = set_limits(c.ns + "." + c.name + "/" + name, api::cpu_millis(config.cpu).value_or(0),
                          api::memory_bytes(config.memory).value_or(0), pg_uid_);
    if (!set) return std::unexpected(set.error());
    dirs = *set;
    auto pid = core::read_file(instance::Paths{dir}.pid());
    if (pid && std::atoi(pid->c_str()) > 0) {
      if (auto st = attach(dirs, std::atoi(pid->c_str())); !st) return std::unexpected(st.error());
    }
  }
  body["resources"] = {{"cpu", config.cpu}, {"memory", config.memory}};
  body["cgroups"] = dirs;
  if (!config.engine.empty()) {
    auto e = instance::find_engine(opts_.data_root, config.engine);
    if (!e) return std::unexpected(e.error());
    body["engine"] = {{"version", e->version}, {"binDir", e->bin_dir}};
  }
  auto r = call_ms(c, name, "POST", "/v1/configure", std::chrono::seconds(30), body.dump());
  if (!r) return std::unexpected(r.error());
  auto j = core::parse_json(*r);
  if (!j || !j->is_object() || !j->value("ok", false)) return core::fail(Code::kInternal, name + ": unexpected answer to configure: " + *r);
  std::vector<std::string> errors;
  if (auto e = j->find("errors"); e != j->end() && e->is_array()) {
    for (const auto& x : *e) errors.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  }
  return errors;
}

}  // namespace polarstack::runtime::local
