#include "runtime/local/local_runtime.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/files.h"
#include "core/json.h"
#include "core/log.h"
#include "core/process.h"
#include "instance/config.h"
#include "instance/engines.h"
#include "runtime/local/cgroups.h"
#include "api/instance_class.h"
#include "runtime/local/netns.h"
#include "runtime/local/redirect.h"

namespace polarstack::runtime::local {

namespace fs = std::filesystem;
using core::Code;
using core::Json;

namespace {
std::string slot_name(const std::string& instance) {
  std::string s = instance;
  for (auto& ch : s) ch = ch == '-' ? '_' : ch;
  return s;
}
}  // namespace

std::string default_data_root(const std::string& home) {
  return ::geteuid() == 0 ? "/var/lib/polarstack" : home + "/data";
}

LocalRuntime::LocalRuntime(Options opts) : opts_(std::move(opts)), ports_(opts_.data_root) {}

core::Result<std::unique_ptr<LocalRuntime>> LocalRuntime::open(Options opts) {
  if (opts.nodes.empty()) return core::fail(Code::kInvalid, "the local runtime needs at least one node");
  std::unique_ptr<LocalRuntime> rt(new LocalRuntime(std::move(opts)));
  if (::geteuid() == 0) {
    auto ids = core::lookup_user("postgres");
    if (!ids) return core::fail(Code::kInvalid, "running as root, PostgreSQL must run as the postgres OS user: " +
                                                    ids.error().message + " (install postgresql-15)");
    rt->pg_uid_ = ids->uid;
    rt->pg_gid_ = ids->gid;
  }
  if (auto st = check_nodes(rt->opts_.nodes); !st) return std::unexpected(st.error());
  for (const auto& d : {rt->opts_.data_root, rt->opts_.data_root + "/nodes"}) {
    if (auto st = rt->prepare_dir(d, false); !st) return std::unexpected(st.error());
  }
  for (const auto& n : rt->opts_.nodes) {
    if (auto st = rt->prepare_dir(rt->node_root(n), false); !st) return std::unexpected(st.error());
    if (auto st = ensure_node_network(n); !st) return std::unexpected(st.error());
  }
  // Redirect tables of proxies killed with -9 (by anyone, with any data root) would keep
  // hijacking their 127.0.0.1 ports; they go before any port is handed out.
  if (int n = sweep_redirects(); n > 0) {
    core::log_info("runtime", "removed " + std::to_string(n) + " redirect table(s) left by proxies that are gone");
  }
  return rt;
}

core::Status LocalRuntime::prepare_dir(const std::string& dir, bool for_postgres) {
  // Directories on the way to an instance must be traversable (not listable) by postgres.
  if (auto st = core::ensure_dir(dir, for_postgres ? 0700 : 0711); !st) return st;
  if (for_postgres && pg_uid_ >= 0) {
    std::error_code ec;
    if (::chown(dir.c_str(), pg_uid_, pg_gid_) != 0) return core::fail(Code::kInternal, "cannot chown " + dir);
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (::lchown(it->path().c_str(), pg_uid_, pg_gid_) != 0) return core::fail(Code::kInternal, "cannot chown " + it->path().string());
    }
  } else if (!for_postgres) {
    ::chmod(dir.c_str(), 0711);
  }
  return {};
}

std::string LocalRuntime::cluster_dir(const ClusterKey& c) const {
  return opts_.data_root + "/clusters/" + c.ns + "." + c.name;
}
std::string LocalRuntime::node_root(const Node& n) const {
  return n.root.empty() ? opts_.data_root + "/nodes/" + n.name : n.root;
}
std::string LocalRuntime::instance_dir(const Node& n, const ClusterKey& c, const std::string& name) const {
  return node_root(n) + "/" + c.ns + "." + c.name + "/" + name;
}

std::string LocalRuntime::find_instance(const ClusterKey& c, const std::string& name, const Node** node) const {
  for (const auto& n : opts_.nodes) {
    std::string dir = instance_dir(n, c, name);
    if (core::file_exists(dir + "/instance.json")) {
      if (node) *node = &n;
      return dir;
    }
  }
  return "";
}

core::Status LocalRuntime::ensure_secrets(const ClusterKey& c) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string dir = cluster_dir(c) + "/secrets";
  if (auto st = core::ensure_dir(dir, 0700); !st) return st;
  for (const char* f : {"superuser", "replication", "token"}) {
    std::string path = dir + "/" + f;
    if (core::file_exists(path)) continue;
    if (auto st = core::write_file_atomic(path, core::random_hex(24) + "\n"); !st) return st;
  }
  return {};
}

core::Result<std::string> LocalRuntime::superuser_password(const ClusterKey& c) {
  return core::read_secret(cluster_dir(c) + "/secrets/superuser");
}

core::Result<InstanceInfo> LocalRuntime::info_of(const std::string& dir, const std::string& node) {
  instance::Paths paths{dir};
  auto cfg = files_.config(dir);
  if (!cfg) return std::unexpected(cfg.error());
  InstanceInfo info{cfg->name, cfg->role, node, cfg->port, cfg->api_port, false, cfg->host};
  info.manager_running = files_.daemon(paths.pid(), "instance", dir) > 0;
  return info;
}

core::Status LocalRuntime::start_daemon(const std::string& dir, const std::vector<std::string>& args, bool as_postgres,
                                        const std::string& log, const Node* node) {
  core::SpawnOptions o;
  o.argv = {opts_.self_exe};
  if (!args.empty() && args[0] == "instance") {
    // The instance manager is its own small binary, next to polarstack.
    o.argv = {(fs::path(opts_.self_exe).parent_path() / "polarstack-instance").string()};
    o.argv.insert(o.argv.end(), args.begin() + 1, args.end());
  } else {
    o.argv.insert(o.argv.end(), args.begin(), args.end());
  }
  o.stdout_path = log;
  o.cwd = dir;
  if (node && !node->address.empty()) {
    // An instance on a node of its own network: started inside the node's namespace.
    if (!core::file_exists(netns_path(node->name))) {
      if (auto st = ensure_node_network(*node); !st) return st;
    }
    o.netns = netns_path(node->name);
  }
  if (as_postgres && pg_uid_ >= 0) {
    o.run_as_uid = pg_uid_;
    o.run_as_gid = pg_gid_;
    o.env["HOME"] = dir;
    o.env["USER"] = "postgres";
  }
  auto pid = core::spawn_daemon(o);
  if (!pid) return std::unexpected(pid.error());
  return {};
}

namespace {
// In an instance's directory: the lock ensure_instance and remove_instance take, and the
// marker a removal leaves (with the data when it is kept).
constexpr const char* kRuntimeLock = "runtime.lock";
constexpr const char* kRemovingMarker = "removing";
}  // namespace

core::Result<InstanceInfo> LocalRuntime::ensure_instance(const ClusterKey& c, const InstanceSpec& spec) {
  std::lock_guard<std::mutex> lock(mu_);
  const Node* node = nullptr;
  std::string dir = find_instance(c, spec.name, &node);
  if (dir.empty() && spec.role.empty()) return core::fail(Code::kNotFound, "instance " + c.str() + "/" + spec.name + " does not exist");
  if (dir.empty()) {
    if (!spec.node.empty()) {
      for (const auto& n : opts_.nodes) node = n.name == spec.node ? &n : node;
      if (!node) return core::fail(Code::kInvalid, "no local node named \"" + spec.node + "\"");
    } else {
      // Spread a cluster's instances: the node with the fewest of them.
      size_t best = SIZE_MAX;
      for (const auto& n : opts_.nodes) {
        std::error_code ec;
        size_t count = 0;
        for (auto it = fs::directory_iterator(node_root(n) + "/" + c.ns + "." + c.name, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++count;
        if (count < best) best = count, node = &n;
      }
    }
    instance::Config cfg;
    cfg.name = spec.name;
    cfg.cluster = c.str();
    cfg.role = spec.role;
    cfg.parameters = spec.parameters;
    auto engine = instance::find_engine(opts_.data_root, spec.engine);
    if (!engine) return std::unexpected(engine.error());
    cfg.engine = engine->version;
    cfg.bin_dir = engine->system ? "" : engine->bin_dir;
    if (!spec.cpu.empty() || !spec.memory.empty()) {
      auto dirs = set_limits(c.ns + "." + c.name + "/" + spec.name, api::cpu_millis(spec.cpu).value_or(0),
                             api::memory_bytes(spec.memory).value_or(0), pg_uid_);
      if (!dirs) return std::unexpected(dirs.error());
      cfg.cpu = spec.cpu;
      cfg.memory = spec.memory;
      cfg.cgroups = *dirs;
    }
    if (spec.role == "replica") {
      const Node* pn = nullptr;
      std::string pdir = find_instance(c, spec.primary, &pn);
      if (pdir.empty()) return core::fail(Code::kNotFound, "primary instance " + spec.primary + " does not exist");
      auto pcfg = instance::load_config({pdir});
      if (!pcfg) return std::unexpected(pcfg.error());
      cfg.primary_host = pcfg->host;
      cfg.primary_port = pcfg->port;
      cfg.slot = slot_name(spec.name);
    }
    std::string owner = c.str() + "/" + spec.name + ":";
    auto pg_port = ports_.allocate(owner + "pg", node->port_min, node->port_max);
    if (!pg_port) return std::unexpected(pg_port.error());
    auto api_port = ports_.allocate(owner + "api", node->port_min, node->port_max);
    if (!api_port) return std::unexpected(api_port.error());
    cfg.port = *pg_port;
    cfg.api_port = *api_port;
    cfg.host = node->host();
    cfg.peer_network = node->address.empty() ? "" : network_of(node->address);

    dir = instance_dir(*node, c, spec.name);
    if (auto st = prepare_dir(node_root(*node) + "/" + c.ns + "." + c.name, false); !st) return std::unexpected(st.error());
    instance::Paths paths{dir};
    if (auto st = core::ensure_dir(paths.secrets(), 0700); !st) return std::unexpected(st.error());
    std::string secrets = cluster_dir(c) + "/secrets/";
    auto su = core::read_file(secrets + "superuser");
    auto repl = core::read_file(secrets + "replication");
    auto token = core::read_file(secrets + "token");
    if (!su || !repl || !token) return core::fail(Code::kNotFound, "the secrets of " + c.str() + " are missing");
    std::vector<std::pair<std::string, std::string>> files = {
        {paths.superuser_password(), *su},
        {paths.replication_password(), *repl},
        {paths.pgpass(), "*:*:*:" + std::string(instance::kReplicationUser) + ":" + core::trim_right(*repl) + "\n"},
        {paths.token(), *token},
        {paths.config(), cfg.to_json().dump(1) + "\n"},  // last: an instance exists once its config does
    };
    for (const auto& [path, content] : files) {
      if (auto st = core::write_file_atomic(path, content); !st) return std::unexpected(st.error());
    }
    if (auto st = prepare_dir(dir, true); !st) return std::unexpected(st.error());
    core::log_info("runtime", "created instance " + c.str() + "/" + spec.name + " on node " + node->name + " (port " +
                                  std::to_string(cfg.port) + ")");
  }
  // Another process (the Cluster Manager restarting a manager it found down) must not
  // bring back an instance that remove_instance is taking away: both hold this lock, and
  // a removal marks the instance first.
  core::FileLock dir_lock(dir + "/" + kRuntimeLock);
  // Creating it again (its data was kept at removal): the instance is wanted once more.
  if (!spec.role.empty()) ::unlink((dir + "/" + kRemovingMarker).c_str());
  if (!dir_lock.ok() || core::file_exists(dir + "/" + kRemovingMarker)) {
    return core::fail(Code::kNotFound, "instance " + c.str() + "/" + spec.name + " is being removed");
  }
  auto info = info_of(dir, node->name);
  if (!info) return info;
  if (!info->manager_running) {
    if (auto st = start_daemon(dir, {"instance", "--dir", dir}, true, dir + "/instance.log", node); !st) return std::unexpected(st.error());
    info->manager_running = true;
  }
  return info;
}

core::Result<std::vector<InstanceInfo>> LocalRuntime::list_instances(const ClusterKey& c) {
  std::vector<InstanceInfo> out;
  for (const auto& n : opts_.nodes) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(node_root(n) + "/" + c.ns + "." + c.name, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (!core::file_exists(it->path().string() + "/instance.json")) continue;
      if (core::file_exists(it->path().string() + "/" + kRemovingMarker)) continue;  // being removed, or removed with its data kept
      auto info = info_of(it->path().string(), n.name);
      if (info) out.push_back(*info);
    }
  }
  std::sort(out.begin(), out.end(), [](const InstanceInfo& a, const InstanceInfo& b) { return a.name < b.name; });
  return out;
}

core::Result<std::string> LocalRuntime::call(const ClusterKey& c, const std::string& name, const std::string& method,
                                             const std::string& path, int timeout_s, const std::string& body) {
  return call_ms(c, name, method, path, std::chrono::seconds(timeout_s), body);
}

core::Status LocalRuntime::post(const ClusterKey& c, const std::string& name, const std::string& path, int timeout_s,
                               const std::string& body) {
  auto r = call(c, name, "POST", path, timeout_s, body);
  return r ? core::Status{} : core::Status(std::unexpected(r.error()));
}

core::Result<std::string> LocalRuntime::call_ms(const ClusterKey& c, const std::string& name, const std::string& method,
                                                const std::string& path, std::chrono::milliseconds timeout,
                                                const std::string& body, const CmGrant* grant) {
  const Node* node = nullptr;
  std::string dir = find_instance(c, name, &node);
  if (dir.empty()) return core::fail(Code::kNotFound, "instance " + c.str() + "/" + name + " does not exist");
  ApiCall call{method, path, body, {}, timeout};
  if (grant) {
    call.headers.emplace_back("X-Polarstack-Cm", grant->active ? "active" : "paused");
    if (!grant->active || grant->lease.count() >= 0) {
      call.headers.emplace_back("X-Polarstack-Lease-Ms", std::to_string(grant->active ? grant->lease.count() : 0));
    }
    call.headers.emplace_back("X-Polarstack-Term", std::to_string(grant->term));
    call.headers.emplace_back("X-Polarstack-Timeout-Ms", std::to_string(timeout.count()));
    if (grant->active) {
      std::string to = notify_.address_for(node ? node->host() : "127.0.0.1");
      if (!to.empty()) call.headers.emplace_back("X-Polarstack-Notify", to);
    }
  }
  return api_.call(dir, cluster_dir(c) + "/secrets/token", name, call);
}

core::Result<InstanceState> LocalRuntime::probe(const ClusterKey& c, const std::string& name,
                                                std::chrono::milliseconds timeout, const CmGrant& grant) {
  std::call_once(notify_once_, [this] { notify_.open(opts_.nodes); });
  return state_from(call_ms(c, name, "GET", "/v1/status", timeout, "", &grant));
}

bool LocalRuntime::wait_instance_event(const ClusterKey&, std::chrono::milliseconds timeout) {
  std::call_once(notify_once_, [this] { notify_.open(opts_.nodes); });
  return notify_.wait(timeout);
}

core::Status LocalRuntime::detach(const ClusterKey& c, const std::string& name) {
  return post(c, name, "/v1/detach", 15);
}

core::Status LocalRuntime::restart(const ClusterKey& c, const std::string& name, int if_postmaster_pid) {
  return post(c, name, "/v1/restart", 10,
              if_postmaster_pid > 0 ? core::Json{{"ifPostmasterPid", if_postmaster_pid}}.dump() : std::string());
}

core::Status LocalRuntime::set_sync_standbys(const ClusterKey& c, const std::string& on,
                                             const std::vector<std::string>& standbys, int k) {
  return post(c, on, "/v1/sync", 10, core::Json{{"standbys", standbys}, {"k", k}}.dump());
}

core::Status LocalRuntime::ensure_cluster_manager(const ClusterKey& c) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string dir = cluster_dir(c) + "/cm";
  if (auto st = core::ensure_dir(dir, 0700); !st) return st;
  Json cfg = {{"namespace", c.ns}, {"cluster", c.name}, {"kubeconfig", opts_.kubeconfig}, {"runtime", options_json(opts_)}};
  return ensure_configured_daemon(dir, "cm", cfg);
}

core::Status LocalRuntime::ensure_configured_daemon(const std::string& dir, const std::string& sub, const Json& cfg) {
  std::string text = cfg.dump(1) + "\n", pid_file = dir + "/" + sub + ".pid";
  auto cur = core::read_file(dir + "/" + sub + ".json");
  if (!cur || *cur != text) {  // a new configuration: the running one (if any) makes way
    if (auto st = core::write_file_atomic(dir + "/" + sub + ".json", text); !st) return st;
    stop_daemon(pid_file, sub, dir, std::chrono::seconds(5));
  }
  if (daemon_pid(pid_file, sub, dir) > 0) return {};
  return start_daemon(dir, {sub, "--dir", dir}, false, dir + "/" + sub + ".log");
}

bool LocalRuntime::cluster_manager_running(const ClusterKey& c) {
  std::string dir = cluster_dir(c) + "/cm";
  return files_.daemon(dir + "/cm.pid", "cm", dir) > 0;
}

core::Status LocalRuntime::remove_cluster_manager(const ClusterKey& c) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string dir = cluster_dir(c) + "/cm";
  stop_daemon(dir + "/cm.pid", "cm", dir, std::chrono::seconds(10));
  return {};
}

core::Status LocalRuntime::set_ha_paused(const ClusterKey& c, bool paused) {
  std::string dir = cluster_dir(c) + "/cm";
  if (auto st = core::ensure_dir(dir, 0700); !st) return st;
  if (paused) return core::write_file_atomic(dir + "/paused", "paused by a workflow that must not race failover\n");
  std::error_code ec;
  fs::remove(dir + "/paused", ec);
  if (ec) return core::fail(Code::kInternal, "cannot remove " + dir + "/paused: " + ec.message());
  return {};
}

bool LocalRuntime::ha_paused(const ClusterKey& c) { return core::file_exists(cluster_dir(c) + "/cm/paused"); }

core::Result<InstanceState> LocalRuntime::instance_state(const ClusterKey& c, const std::string& name) {
  return state_from(call(c, name, "GET", "/v1/status"));
}

core::Status LocalRuntime::ensure_slot(const ClusterKey& c, const std::string& on, const std::string& slot) {
  auto r = call(c, on, "PUT", "/v1/slots/" + slot_name(slot));
  if (!r) return std::unexpected(r.error());
  return {};
}

core::Result<std::string> LocalRuntime::fence(const ClusterKey& c, const std::string& name,
                                              std::chrono::milliseconds grace) {
  auto r = call_ms(c, name, "POST", "/v1/fence", grace + std::chrono::seconds(10),
                   core::Json{{"graceMs", grace.count()}}.dump());
  if (!r) return std::unexpected(r.error());
  auto j = core::parse_json(*r);
  if (!j || !j->is_object() || !j->value("ok", false)) return core::fail(Code::kInternal, name + ": unexpected answer to fence: " + *r);
  return j->value("fencedLsn", "");  // empty: it had not shut down cleanly (it had crashed)
}

core::Status LocalRuntime::unfence(const ClusterKey& c, const std::string& name) {
  return post(c, name, "/v1/unfence", 10);
}

core::Status LocalRuntime::promote(const ClusterKey& c, const std::string& name) {
  // The new term: above every instance's, read from their configurations (which each
  // manager keeps current), so even one that cannot be reached is counted.
  uint64_t term = 0;
  auto all = list_instances(c);
  if (!all) return std::unexpected(all.error());
  for (const auto& i : *all) {
    if (auto cfg = instance::load_config({find_instance(c, i.name)})) term = std::max(term, cfg->term);
  }
  return post(c, name, "/v1/promote", 35, core::Json{{"term", term + 1}}.dump());
}

core::Status LocalRuntime::follow(const ClusterKey& c, const std::string& name, const std::string& primary,
                                 const std::string& replayed_past) {
  if (name == primary) return core::fail(Code::kInvalid, name + " cannot follow itself");
  std::string pdir = find_instance(c, primary);
  if (pdir.empty()) return core::fail(Code::kNotFound, "instance " + c.str() + "/" + primary + " does not exist");
  auto pcfg = instance::load_config({pdir});
  if (!pcfg) return std::unexpected(pcfg.error());
  if (auto st = ensure_slot(c, primary, name); !st) return st;
  core::Json body{{"primaryHost", pcfg->host}, {"primaryPort", pcfg->port},
                  {"slot", slot_name(name)}};
  if (!replayed_past.empty()) body["replayedPast"] = replayed_past;
  return post(c, name, "/v1/follow", 5, body.dump());
}

core::Status LocalRuntime::drop_slot(const ClusterKey& c, const std::string& on, const std::string& slot) {
  auto r = call(c, on, "DELETE", "/v1/slots/" + slot_name(slot), 10);
  if (!r) return std::unexpected(r.error());
  return {};
}

core::Status LocalRuntime::remove_instance(const ClusterKey& c, const std::string& name, bool keep_data) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string dir = find_instance(c, name);
  if (!dir.empty()) {
    core::FileLock dir_lock(dir + "/" + kRuntimeLock);  // no ensure_instance restarts it meanwhile
    if (auto st = core::write_file_atomic(dir + "/" + kRemovingMarker, "", 0600); !st) return st;
    instance::Paths paths{dir};
    stop_daemon(paths.pid(), "instance", dir, std::chrono::seconds(90));
    // A postmaster left behind by a manager that was killed: end its whole process group.
    std::ifstream pidf(paths.data() + "/postmaster.pid");
    long pm = 0;
    if (pidf >> pm && pm > 0 && core::process_alive(static_cast<pid_t>(pm))) {
      auto args = core::process_cmdline(static_cast<pid_t>(pm));
      if (!args.empty() && args[0].find("postgres") != std::string::npos) ::kill(-static_cast<pid_t>(pm), SIGKILL);
    }
    if (!keep_data) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (ec) return core::fail(Code::kInternal, "cannot remove " + dir + ": " + ec.message());
    }
    core::log_info("runtime", "removed instance " + c.str() + "/" + name + (keep_data ? " (data kept in " + dir + ")" : ""));
  }
  remove_limits(c.ns + "." + c.name + "/" + name);
  return ports_.release(c.str() + "/" + name + ":");
}

core::Result<EndpointsInfo> LocalRuntime::ensure_endpoints(const ClusterKey& c, int rw, int ro) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string dir = cluster_dir(c) + "/endpoints";
  if (auto st = core::ensure_dir(dir, 0700); !st) return std::unexpected(st.error());
  const Node& n = opts_.nodes.front();
  std::string owner = c.str() + "/:";
  auto port = [&](int want, const std::string& what) -> core::Result<int> {
    if (want == 0) return ports_.allocate(owner + what, n.port_min, n.port_max);
    if (auto st = ports_.claim(owner + what, want); !st) return std::unexpected(st.error());
    return want;
  };
  auto rw_port = port(rw, "rw");
  if (!rw_port) return std::unexpected(rw_port.error());
  auto ro_port = port(ro, "ro");
  if (!ro_port) return std::unexpected(ro_port.error());
  Json cfg = {{"namespace", c.ns}, {"cluster", c.name}, {"readWritePort", *rw_port}, {"readOnlyPort", *ro_port},
              {"kubeconfig", opts_.kubeconfig}, {"mode", opts_.endpoint_mode}};
  if (auto st = ensure_configured_daemon(dir, "proxy", cfg); !st) return std::unexpected(st.error());
  return EndpointsInfo{*rw_port, *ro_port, true};
}

bool LocalRuntime::endpoints_running(const ClusterKey& c) {
  std::string dir = cluster_dir(c) + "/endpoints";
  return files_.daemon(dir + "/proxy.pid", "proxy", dir) > 0;
}

core::Status LocalRuntime::remove_endpoints(const ClusterKey& c) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string dir = cluster_dir(c) + "/endpoints";
  stop_daemon(dir + "/proxy.pid", "proxy", dir, std::chrono::seconds(5));
  sweep_redirects();  // the rules of a proxy that was killed rather than stopped
  std::error_code ec;
  fs::remove_all(dir, ec);
  return ports_.release(c.str() + "/:");
}

core::Status LocalRuntime::remove_cluster(const ClusterKey& c, bool keep_data) {
  if (auto st = remove_cluster_manager(c); !st) return st;
  if (auto st = remove_endpoints(c); !st) return st;
  std::lock_guard<std::mutex> lock(mu_);
  if (!keep_data) {
    std::error_code ec;
    for (const auto& n : opts_.nodes) fs::remove_all(node_root(n) + "/" + c.ns + "." + c.name, ec);
    fs::remove_all(cluster_dir(c), ec);
    if (ec) return core::fail(Code::kInternal, "cannot remove " + cluster_dir(c) + ": " + ec.message());
  }
  return ports_.release(c.str() + "/");
}

int LocalRuntime::stop_all(const Options& opts) {
  LocalRuntime rt(opts);
  int stopped = 0;
  std::error_code ec;
  // Cluster Managers first: they must not fail over while databases stop.
  for (auto c = fs::directory_iterator(opts.data_root + "/clusters", ec); !ec && c != fs::directory_iterator(); c.increment(ec)) {
    std::string dir = c->path().string() + "/cm";
    if (daemon_pid(dir + "/cm.pid", "cm", dir) <= 0) continue;
    stop_daemon(dir + "/cm.pid", "cm", dir, std::chrono::seconds(10));
    ++stopped;
  }
  ec.clear();
  for (const auto& n : opts.nodes) {
    for (auto c = fs::directory_iterator(rt.node_root(n), ec); !ec && c != fs::directory_iterator(); c.increment(ec)) {
      std::error_code ec2;
      for (auto i = fs::directory_iterator(c->path(), ec2); !ec2 && i != fs::directory_iterator(); i.increment(ec2)) {
        std::string dir = i->path().string();
        instance::Paths paths{dir};
        if (daemon_pid(paths.pid(), "instance", dir) <= 0) continue;
        stop_daemon(paths.pid(), "instance", dir, std::chrono::seconds(90));
        ++stopped;
      }
    }
  }
  for (auto c = fs::directory_iterator(opts.data_root + "/clusters", ec); !ec && c != fs::directory_iterator(); c.increment(ec)) {
    std::string dir = c->path().string() + "/endpoints";
    if (daemon_pid(dir + "/proxy.pid", "proxy", dir) <= 0) continue;
    stop_daemon(dir + "/proxy.pid", "proxy", dir, std::chrono::seconds(5));
    ++stopped;
  }
  sweep_redirects();
  for (const auto& n : opts.nodes) {
    if (auto st = remove_node_network(n, opts.nodes); !st) core::log_warn("runtime", "node " + n.name + ": " + st.error().message);
  }
  return stopped;
}

Json LocalRuntime::options_json(const Options& opts) {
  Json nodes = Json::array();
  for (const auto& n : opts.nodes) {
    nodes.push_back({{"name", n.name}, {"root", n.root}, {"portMin", n.port_min}, {"portMax", n.port_max}});
    if (!n.address.empty()) nodes.back()["address"] = n.address;
  }
  return {{"dataRoot", opts.data_root}, {"nodes", nodes}, {"selfExe", opts.self_exe}, {"kubeconfig", opts.kubeconfig},
          {"endpointMode", opts.endpoint_mode}};
}

core::Result<Options> LocalRuntime::options_from_json(const Json& j) {
  try {
    Options o;
    o.data_root = j.at("dataRoot").get<std::string>();
    for (const auto& n : j.at("nodes")) {
      o.nodes.push_back({n.at("name").get<std::string>(), n.value("root", ""), n.value("portMin", 0), n.value("portMax", 0),
                         n.value("address", "")});
    }
    o.self_exe = j.value("selfExe", "");
    o.kubeconfig = j.value("kubeconfig", "");
    o.endpoint_mode = j.value("endpointMode", "auto");
    return o;
  } catch (const std::exception& e) {
    return core::fail(Code::kInvalid, std::string("runtime options: ") + e.what());
  }
}

std::string LocalRuntime::check_port(const ClusterKey& c, int port) {
  std::string owner = ports_.owner_of(port);
  if (!owner.empty()) return owner.rfind(c.str() + "/", 0) == 0 ? "" : "is already used by " + owner.substr(0, owner.find(':'));
  if (!port_bindable(port)) return "is in use on 127.0.0.1 by another program";
  return "";
}

}  // namespace polarstack::runtime::local
