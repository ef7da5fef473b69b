// The instance API (see manager.h): requests in, the Manager's state and actions out.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "core/files.h"
#include "core/log.h"
#include "instance/manager_internal.h"

namespace polarstack::instance::detail {

namespace {
HttpResponse json_error(int status, const std::string& msg) { return {status, core::Json{{"error", msg}}.dump()}; }
HttpResponse reply(const core::Status& st) {
  if (st) return {200, R"({"ok":true})"};
  return json_error(st.error().code == core::Code::kConflict ? 409 : 500, st.error().message);
}
bool all_of(const std::string& s, size_t max, const char* extra) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || std::strchr(extra, c) != nullptr;
    if (!ok) return false;
  }
  return true;
}
bool valid_slot(const std::string& s) { return all_of(s, 63, "_"); }
bool valid_host(const std::string& s) {
  std::string lower = s;
  for (auto& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return all_of(lower, 253, ".:-");
}
}  // namespace

HttpResponse Manager::handle(const HttpRequest& req) {
  if (!constant_time_equal(req.header("authorization"), "Bearer " + token_)) {
    return json_error(401, "missing or wrong bearer token");
  }
  const std::string& m = req.method;
  const std::string& path = req.path;
  auto only = [&](const char* method) { return m == method ? std::optional<HttpResponse>() : json_error(405, "use " + std::string(method)); };
  if (path == "/v1/status") {
    if (auto r = only("GET")) return *r;
    // A Cluster Manager's probe: "active" (it acts for the cluster) or "paused" (HA paused:
    // no lease). It grants and renews the lease and tells the cluster's term.
    if (std::string cm = req.header("x-polarstack-cm"); cm == "active" || cm == "paused") {
      std::lock_guard<std::mutex> lock(mu_);
      auto now = Clock::now();
      if (cm == "active") {
        last_cm_contact_ = now;
        std::string to = req.header("x-polarstack-notify");
        if (to.size() <= 21 && all_of(to, 21, ".:")) notify_to_ = to;
      }
      // No lease header: not renewed (the CM stopped renewing a primary it sees failing).
      std::string lease = cm == "active" ? req.header("x-polarstack-lease-ms") : "0";
      if (!lease.empty()) {
        lease_ = std::chrono::milliseconds(std::clamp<long long>(std::atoll(lease.c_str()), 0, 600000));
        if (lease_.count() > 0) lease_renewed_ = now;
      }
      unsigned long long term = std::strtoull(req.header("x-polarstack-term").c_str(), nullptr, 10);
      if (term > cfg_.term) {
        if (cfg_.role == "primary" && !cfg_.fenced) {
          if (!stale_term_) {
            core::log_warn("instance", "the cluster is at term " + std::to_string(term) + ", this primary at " +
                                           std::to_string(cfg_.term) + ": it is stale and fences itself");
          }
          stale_term_ = true;
          ::kill(::getpid(), SIGUSR1);  // wakes the supervision loop
        } else {
          cfg_.term = term;
          if (auto st = save_config(paths_, cfg_); !st) core::log_warn("instance", st.error().message);
        }
      }
    }
    // A caller with a deadline (the CM) gets an answer within it: PostgreSQL not answering
    // in two thirds of it shows as role unknown.
    auto budget = 1000ms;
    if (std::string t = req.header("x-polarstack-timeout-ms"); !t.empty()) {
      budget = std::chrono::milliseconds(std::clamp<long long>(std::atoll(t.c_str()) * 2 / 3, 50, 1000));
    }
    return {200, status(budget).dump()};
  }
  // Slot names are checked here: anything else is a 404.
  const std::string slots = "/v1/slots/";
  if (path.rfind(slots, 0) == 0) {
    std::string slot = path.substr(slots.size());
    if (!valid_slot(slot)) return json_error(404, "no such resource");
    if (m != "PUT" && m != "DELETE") return json_error(405, "use PUT or DELETE");
    std::lock_guard<std::timed_mutex> lock(probe_mu_);
    return reply(m == "PUT" ? prober_.ensure_slot(slot) : prober_.drop_slot(slot));
  }
  if (path == "/v1/reload") {
    if (auto r = only("POST")) return *r;
    Config cfg;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cfg = cfg_;
    }
    std::lock_guard<std::timed_mutex> lock(probe_mu_);
    auto st = write_conf(paths_, cfg);
    return reply(st ? prober_.reload() : st);
  }
  // Body {"parameters": {name: value}, "reload": bool}: the user's parameters from now
  // on (instance.json, then the configuration file); reload: PostgreSQL applies what it
  // can without a restart (a postmaster parameter waits for the next start: status
  // pendingRestart). Answers {"errors": ["name: why", ...]}: lines PostgreSQL refused.
  if (path == "/v1/configure") {
    if (auto r = only("POST")) return *r;
    auto body = core::parse_json(req.body);
    if (!body || !body->is_object()) return json_error(400, "body: must be a JSON object");
    std::map<std::string, std::string> params;
    bool reload = false;
    std::optional<std::pair<std::string, std::string>> engine;  // version, bin dir
    std::optional<std::pair<std::string, std::string>> resources;  // cpu, memory (the runtime enforces them)
    std::optional<std::vector<std::string>> cgroups;
    for (const auto& [k, v] : body->items()) {
      if (k == "engine") {
        if (!v.is_object() || !v.contains("version") || !v.contains("binDir") || !v["version"].is_string() ||
            !v["binDir"].is_string()) {
          return json_error(400, "engine: must be {\"version\": \"15.N\", \"binDir\": \"/path\"}");
        }
        std::string dir = v["binDir"].get<std::string>();
        if (dir.empty() || dir[0] != '/' || !core::file_exists(dir + "/postgres")) {
          return json_error(400, "engine.binDir: no postgres in \"" + dir + "\"");
        }
        engine = {v["version"].get<std::string>(), dir};
      } else if (k == "resources") {
        if (!v.is_object()) return json_error(400, "resources: must be {\"cpu\": \"...\", \"memory\": \"...\"}");
        for (const auto& [rk, rv] : v.items()) {
          if ((rk != "cpu" && rk != "memory") || !rv.is_string()) return json_error(400, "resources." + rk + ": unknown or not a string");
        }
        resources = std::pair{v.value("cpu", ""), v.value("memory", "")};
      } else if (k == "cgroups") {
        if (!v.is_array()) return json_error(400, "cgroups: must be a list of directories");
        std::vector<std::string> dirs;
        for (const auto& d : v) {
          if (!d.is_string() || d.get<std::string>().rfind("/sys/fs/cgroup/", 0) != 0) {
            return json_error(400, "cgroups: each must be a directory under /sys/fs/cgroup");
          }
          dirs.push_back(d.get<std::string>());
        }
        cgroups = dirs;
      } else if (k == "reload") {
        if (!v.is_boolean()) return json_error(400, "reload: must be a boolean");
        reload = v.get<bool>();
      } else if (k == "parameters") {
        if (!v.is_object()) return json_error(400, "parameters: must be an object of strings");
        for (const auto& [n, x] : v.items()) {
          if (!x.is_string()) return json_error(400, "parameters." + n + ": must be a string");
          params[n] = x.get<std::string>();
        }
      } else {
        return json_error(400, k + ": unknown field");
      }
    }
    if (!body->contains("parameters")) return json_error(400, "parameters: required");
    Config cfg;
    bool running;
    {
      std::lock_guard<std::mutex> lock(mu_);
      bool engine_changes = engine && (engine->first != cfg_.engine || engine->second != cfg_.bin_dir);
      bool resources_change = (resources && (resources->first != cfg_.cpu || resources->second != cfg_.memory)) ||
                              (cgroups && *cgroups != cfg_.cgroups);
      if (cfg_.parameters != params || engine_changes || resources_change) {
        Config next = cfg_;
        next.parameters = params;
        if (resources) next.cpu = resources->first, next.memory = resources->second;
        if (cgroups) next.cgroups = *cgroups;
        if (engine) {
          next.engine = engine->first;
          next.bin_dir = engine->second;
        }
        if (auto st = save_config(paths_, next); !st) return reply(st);
        cfg_ = next;
        if (engine_changes) {
          set_bin_dir(cfg_.bin_dir);  // from the next start on
          core::log_info("instance", "engine " + cfg_.engine + " (" + cfg_.bin_dir + ") from the next start on");
        }
        core::log_info("instance", "parameters configured (" + std::to_string(params.size()) + " set)" +
                                       (reload ? ", reloading" : ""));
      }
      cfg = cfg_;
      running = pm_ > 0 && !cfg_.fenced;
    }
    std::lock_guard<std::timed_mutex> lock(probe_mu_);
    if (auto st = write_conf(paths_, cfg); !st) return reply(st);
    core::Json errors = core::Json::array();
    if (reload && running) {
      if (auto st = prober_.reload(); !st) return reply(st);
      auto errs = prober_.file_errors();
      if (!errs) return reply(core::Status(std::unexpected(errs.error())));
      for (const auto& e : *errs) errors.push_back(e);
      std::lock_guard<std::mutex> l(mu_);
      settings_until_ = Clock::now() + 2s;
    }
    return {200, core::Json{{"ok", true}, {"errors", errors}}.dump()};
  }
  if (path == "/v1/fence") {
    if (auto r = only("POST")) return *r;
    // {"graceMs": N}: how long the fast shutdown may take before the group is killed
    // (default 60 s; the Cluster Manager, fencing a failed primary, gives it little).
    std::chrono::milliseconds grace = 60s;
    if (!req.body.empty()) {
      auto body = core::parse_json(req.body);
      if (!body || !body->is_object()) return json_error(400, "body: must be a JSON object");
      for (const auto& [k, v] : body->items()) {
        if (k != "graceMs") return json_error(400, k + ": unknown field");
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 600000) {
          return json_error(400, "graceMs: must be an integer 0..600000");
        }
        grace = std::chrono::milliseconds(v.get<int64_t>());
      }
    }
    std::unique_lock<std::mutex> lock(fence_mu_);
    fence_requested_ = true;
    fence_grace_ = grace;
    fence_result_.reset();
    ::kill(::getpid(), SIGUSR1);  // wakes the supervision loop
    if (!fence_cv_.wait_for(lock, grace + 30s, [&] { return fence_result_.has_value(); })) {
      return json_error(503, "fencing did not finish in time");
    }
    auto res = *fence_result_;
    if (!res) return reply(std::unexpected(res.error()));
    return {200, core::Json{{"ok", true}, {"fencedLsn", *res}}.dump()};
  }
  auto fenced = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return cfg_.fenced;
  };
  // Undoes a fence (a cancelled switchover): PostgreSQL starts again in its configured
  // role. The caller makes sure nobody else was promoted meanwhile.
  if (path == "/v1/unfence") {
    if (auto r = only("POST")) return *r;
    std::lock_guard<std::mutex> lock(mu_);
    if (cfg_.fenced) {
      cfg_.fenced = false;
      cfg_.fenced_lsn.clear();
      if (auto st = save_config(paths_, cfg_); !st) return reply(st);
      state_ = "Starting";
      next_start_ = Clock::now();
      core::log_info("instance", "unfenced: starting PostgreSQL again as " + cfg_.role);
    }
    return reply({});
  }
  // Stops streaming from the primary (and so renewing its lease) until told to follow or
  // promoted: the Cluster Manager does this to every replica before it promotes one in
  // place of a primary it cannot reach. Answers once no WAL receiver runs.
  if (path == "/v1/detach") {
    if (auto r = only("POST")) return *r;
    Config cfg;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cfg_.role != "replica") return json_error(409, "only a replica can detach");
      if (!cfg_.detached) {
        cfg_.detached = true;
        if (auto st = save_config(paths_, cfg_); !st) return reply(st);
        core::log_info("instance", "detached: no longer streaming from " + cfg_.primary_host + ":" +
                                       std::to_string(cfg_.primary_port));
      }
      cfg = cfg_;
    }
    std::lock_guard<std::timed_mutex> lock(probe_mu_);
    if (auto st = write_conf(paths_, cfg); !st) return reply(st);
    if (auto st = prober_.reload(); !st) return reply(st);
    for (auto until = Clock::now() + 10s; Clock::now() < until; std::this_thread::sleep_for(50ms)) {
      auto r = prober_.receiving();
      if (r && !*r) return reply({});
      if (!r) prober_.reset();
    }
    return json_error(503, "the WAL receiver did not stop in time");
  }
  if (path == "/v1/promote") {
    if (auto r = only("POST")) return *r;
    if (fenced()) return json_error(409, "fenced: it may only follow a new primary");
    // {"term": N}: the new primary's term (at least one more than it knew of).
    uint64_t term = 0;
    if (!req.body.empty()) {
      auto body = core::parse_json(req.body);
      if (!body || !body->is_object()) return json_error(400, "body: must be a JSON object");
      for (const auto& [k, v] : body->items()) {
        if (k != "term") return json_error(400, k + ": unknown field");
        if (!v.is_number_unsigned()) return json_error(400, "term: must be a non-negative integer");
        term = v.get<uint64_t>();
      }
    }
    core::Status st;
    {
      std::lock_guard<std::timed_mutex> lock(probe_mu_);
      st = prober_.promote();
    }
    if (st) {
      // Remembered, so a restart does not bring it back as a replica of its old primary.
      std::lock_guard<std::mutex> lock(mu_);
      cfg_.role = "primary";
      cfg_.term = std::max(term, cfg_.term + 1);
      cfg_.detached = false;
      stale_term_ = false;
      lease_renewed_ = Clock::now();
      follow_.reset();
      follow_by_.reset();
      st = save_config(paths_, cfg_);
      if (st) st = write_conf(paths_, cfg_);
      core::log_info("instance", "promoted to primary, term " + std::to_string(cfg_.term));
    }
    return reply(st);
  }
  // Become a replica of another primary: a replica reloads its primary_conninfo; a primary
  // (demote) or a replica that cannot follow is stopped, rewound with pg_rewind against the
  // new primary (re-cloned if that fails) and started as a replica. Asynchronous: the
  // status shows state Following/Rewinding/Recloning and then the new sender.
  if (path == "/v1/follow") {
    if (auto r = only("POST")) return *r;
    auto body = core::parse_json(req.body);
    if (!body || !body->is_object()) return json_error(400, "body: must be a JSON object");
    const core::Json& b = *body;
    for (const auto& [k, v] : b.items()) {
      if (k != "primaryHost" && k != "primaryPort" && k != "slot" && k != "replayedPast") return json_error(400, k + ": unknown field");
    }
    std::string host = b.contains("primaryHost") && b["primaryHost"].is_string() ? b["primaryHost"].get<std::string>() : "127.0.0.1";
    if (!valid_host(host)) return json_error(400, "primaryHost: must be a host name or address");
    if (!b.contains("primaryPort") || !b["primaryPort"].is_number_integer()) return json_error(400, "primaryPort: required integer");
    int port = b["primaryPort"].get<int>();
    if (port < 1 || port > 65535) return json_error(400, "primaryPort: must be 1..65535");
    std::string slot = b.contains("slot") && b["slot"].is_string() ? b["slot"].get<std::string>() : "";
    std::string past = b.contains("replayedPast") && b["replayedPast"].is_string() ? b["replayedPast"].get<std::string>() : "";
    if (b.contains("replayedPast") && (!b["replayedPast"].is_string() || past.empty() || past.size() > 20 ||
                                       past.find('/') == std::string::npos)) {
      return json_error(400, "replayedPast: must be an LSN such as 0/5028618");
    }
    if (!valid_slot(slot)) return json_error(400, "slot: required, [a-z0-9_]{1,63}");
    if (port == cfg_.port && (host == cfg_.host || host == "127.0.0.1" || host == "localhost")) return json_error(400, "primaryPort: that is this instance");
    std::lock_guard<std::mutex> lock(mu_);
    Config next = cfg_;
    next.role = "replica";
    next.primary_host = host;
    next.primary_port = port;
    next.slot = slot;
    next.fenced = false;  // a fenced instance comes back only as a replica
    next.fenced_lsn.clear();
    next.detached = false;
    follow_ = next;
    // Its WAL ends at its fenced LSN (a clean shutdown), which the new primary replayed past:
    // nothing of it lies beyond the fork, so it starts as a replica without a rewind.
    follow_no_rewind_ = !past.empty() && cfg_.fenced && !cfg_.fenced_lsn.empty() && past == cfg_.fenced_lsn;
    core::log_info("instance", "asked to follow " + host + ":" + std::to_string(port));
    ::kill(::getpid(), SIGUSR1);  // wakes the supervision loop: a failover waits on this
    return reply({});
  }
  // {"standbys": ["c-1", "c-2"], "k": 1}: commits wait for k of them (synchronous_standby_names
  // = ANY k (...)); an empty list makes replication asynchronous again. Reloaded at once.
  if (path == "/v1/sync") {
    if (auto r = only("POST")) return *r;
    auto body = core::parse_json(req.body);
    if (!body || !body->is_object()) return json_error(400, "body: must be a JSON object");
    for (const auto& [k, v] : body->items()) {
      if (k != "standbys" && k != "k") return json_error(400, k + ": unknown field");
    }
    std::vector<std::string> names;
    if (const auto it = body->find("standbys"); it != body->end()) {
      if (!it->is_array()) return json_error(400, "standbys: must be a list of instance names");
      for (const auto& n : *it) {
        if (!n.is_string() || !all_of(n.get<std::string>(), 63, "-")) return json_error(400, "standbys: must be instance names");
        names.push_back(n.get<std::string>());
      }
    }
    int k = body->value("k", names.empty() ? 0 : 1);
    if (!names.empty() && (k < 1 || k > static_cast<int>(names.size()))) {
      return json_error(400, "k: must be 1.." + std::to_string(names.size()));
    }
    Config cfg;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cfg_.sync_standbys = names;
      cfg_.sync_k = names.empty() ? 0 : k;
      if (auto st = save_config(paths_, cfg_); !st) return reply(st);
      cfg = cfg_;
    }
    std::lock_guard<std::timed_mutex> lock(probe_mu_);
    auto st = write_conf(paths_, cfg);
    // A replica too: set before a promotion, it applies from the first commit after it.
    if (st) st = prober_.reload();
    if (st) core::log_info("instance", "synchronous_standby_names = '" + sync_standby_names(cfg) + "'");
    return reply(st);
  }
  // Body {"ifPostmasterPid": N} (optional): only if N is the postmaster running now and no
  // restart of it was asked for yet, so that a workflow step run again after a crash does
  // not restart an instance twice. Answers {"restarting": true|false}.
  if (path == "/v1/restart") {
    if (auto r = only("POST")) return *r;
    if (fenced()) return json_error(409, "fenced: it may only follow a new primary");
    long long if_pid = 0;
    if (!req.body.empty()) {
      auto body = core::parse_json(req.body);
      if (!body || !body->is_object()) return json_error(400, "body: must be a JSON object");
      for (const auto& [k, v] : body->items()) {
        if (k != "ifPostmasterPid") return json_error(400, k + ": unknown field");
        if (!v.is_number_integer() || v.get<long long>() <= 0) return json_error(400, "ifPostmasterPid: must be a positive integer");
        if_pid = v.get<long long>();
      }
    }
    bool restarting = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (if_pid > 0 && (if_pid != pm_ || if_pid == restart_asked_for_)) restarting = false;
      if (restarting) {
        restart_asked_for_ = pm_;
        restart_requested_ = true;
      }
    }
    if (restarting) {
      core::log_info("instance", "restart asked for");
      ::kill(::getpid(), SIGUSR1);  // wakes the supervision loop
    }
    return {200, core::Json{{"ok", true}, {"restarting", restarting}}.dump()};
  }
  if (path == "/v1/stop") {
    if (auto r = only("POST")) return *r;
    ::kill(::getpid(), SIGTERM);  // picked up by the supervision loop's sigtimedwait
    return reply({});
  }
  return json_error(404, "no such resource");
}

bool Manager::serve() {
  if (auto st = http_.listen(cfg_.host, cfg_.api_port); !st) {
    core::log_error("instance", st.error().message);
    return false;
  }
  http_thread_ = std::thread([this] { http_.serve(); });
  return true;
}

}  // namespace polarstack::instance::detail
