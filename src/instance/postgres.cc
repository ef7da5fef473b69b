#include "instance/postgres.h"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/files.h"
#include "core/log.h"
#include "core/process.h"

namespace polarstack::instance {

namespace fs = std::filesystem;
using core::Code;

namespace {
std::mutex bin_mu;
std::string bin_dir = kBinDir;
std::string bin(const char* name) {
  std::lock_guard<std::mutex> lock(bin_mu);
  return bin_dir + "/" + name;
}

std::string conf_quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string tail_of(const std::string& path, size_t bytes = 600) {
  auto text = core::read_file(path);
  if (!text) return "";
  return core::trim_right(text->size() > bytes ? text->substr(text->size() - bytes) : *text);
}

// Runs a tool to completion, its output appended to `log`.
core::Status run_tool(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
                      const std::string& log, const std::atomic<bool>& stop) {
  auto child = core::spawn({std::move(argv), env, log});
  if (!child) return std::unexpected(child.error());
  while (true) {
    if (auto st = child->wait_for(std::chrono::milliseconds(20))) {
      if (WIFEXITED(*st) && WEXITSTATUS(*st) == 0) return {};
      return core::fail(Code::kInternal, "exited with status " + std::to_string(WEXITSTATUS(*st)) + ": " + tail_of(log));
    }
    if (stop.load()) return core::fail(Code::kUnavailable, "stopping");
  }
}
}  // namespace

core::Status bootstrap(const Paths& paths, const Config& cfg, const std::atomic<bool>& stop) {
  if (core::file_exists(paths.data() + "/PG_VERSION")) return {};
  std::string tmp = paths.data() + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  std::string log = paths.dir + "/bootstrap.log";
  if (cfg.role == "primary") {
    auto st = run_tool({bin("initdb"), "-D", tmp, "-U", kSuperuser, "--pwfile=" + paths.superuser_password(),
                        "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"},
                       {}, log, stop);
    if (!st) return core::fail(Code::kInternal, "initdb failed: " + st.error().message);
  } else {
    auto st = run_tool({bin("pg_basebackup"), "-h", cfg.primary_host, "-p", std::to_string(cfg.primary_port), "-U",
                        kReplicationUser, "-D", tmp, "-X", "stream", "-S", cfg.slot, "-c", "fast", "--no-password"},
                       {{"PGPASSFILE", paths.pgpass()}}, log, stop);
    if (!st) return core::fail(Code::kUnavailable, "pg_basebackup failed: " + st.error().message);
    if (auto w = core::write_file_atomic(tmp + "/standby.signal", ""); !w) return w;
    fs::remove(tmp + "/polarstack.conf", ec);
  }
  {
    std::ofstream conf(tmp + "/postgresql.conf", std::ios::app);
    conf << "\n# Written by polarstack: the settings it owns.\ninclude_if_exists = 'polarstack.conf'\n";
    if (!conf) return core::fail(Code::kInternal, "cannot append to postgresql.conf");
  }
  fs::rename(tmp, paths.data(), ec);
  if (ec) return core::fail(Code::kInternal, "cannot rename " + tmp + ": " + ec.message());
  return {};
}

core::Status rewind(const Paths& paths, const Config& cfg, const std::atomic<bool>& stop) {
  auto pw = core::read_secret(paths.superuser_password());
  if (!pw) return std::unexpected(pw.error());
  // pg_rewind reads the source as the superuser: its password through a passfile, never argv.
  if (auto st = core::write_file_atomic(paths.rewind_pgpass(), "*:*:*:" + std::string(kSuperuser) + ":" + *pw + "\n"); !st) {
    return st;
  }
  // A freshly promoted primary's control file names its new timeline only after a
  // checkpoint; without one pg_rewind sees "the same timeline" and does nothing. psql does
  // it (the manager has no password-capable client of its own), through the same passfile.
  std::string conninfo = "host=" + cfg.primary_host + " port=" + std::to_string(cfg.primary_port) + " user=" +
                         kSuperuser + " dbname=postgres passfile=" + paths.rewind_pgpass() + " application_name=" +
                         cfg.name + "-rewind connect_timeout=5";
  auto rec = core::run({bin("psql"), "-X", "-Atq", "-d", conninfo, "-c", "select pg_is_in_recovery()"}, std::chrono::seconds(30));
  if (!rec || rec->exit_code != 0) {
    return core::fail(Code::kUnavailable, "cannot reach the new primary: " +
                                              (rec ? core::trim_right(rec->output) : rec.error().message));
  }
  if (core::trim_right(rec->output) != "f") return core::fail(Code::kUnavailable, "the instance to follow is not a primary (yet)");
  auto cp = core::run({bin("psql"), "-X", "-Atq", "-d", conninfo, "-c", "checkpoint"}, std::chrono::seconds(120));
  if (!cp || cp->exit_code != 0) {
    return core::fail(Code::kUnavailable, "checkpoint on the new primary: " +
                                              (cp ? core::trim_right(cp->output) : cp.error().message));
  }
  auto st = run_tool({bin("pg_rewind"), "--target-pgdata=" + paths.data(), "--source-server=" + conninfo},
                     {}, paths.dir + "/rewind.log", stop);
  if (!st) return core::fail(Code::kInternal, "pg_rewind failed: " + st.error().message);
  return core::write_file_atomic(paths.data() + "/standby.signal", "");
}

core::Status reclone(const Paths& paths, const Config& cfg, const std::atomic<bool>& stop) {
  // The old data stays aside until the clone is complete, then goes.
  std::string aside = paths.data() + ".discarded";
  std::error_code ec;
  if (fs::exists(paths.data(), ec)) {
    fs::remove_all(aside, ec);
    fs::rename(paths.data(), aside, ec);
    if (ec) return core::fail(Code::kInternal, "cannot move " + paths.data() + " aside: " + ec.message());
  }
  Config replica = cfg;
  replica.role = "replica";
  if (auto st = bootstrap(paths, replica, stop); !st) return st;
  fs::remove_all(aside, ec);
  return {};
}

std::string sync_standby_names(const Config& cfg) {
  if (cfg.sync_standbys.empty() || cfg.sync_k <= 0) return "";
  std::string list;
  for (const auto& n : cfg.sync_standbys) list += (list.empty() ? "" : ", ") + ("\"" + n + "\"");
  return "ANY " + std::to_string(std::min<int>(cfg.sync_k, static_cast<int>(cfg.sync_standbys.size()))) + " (" + list + ")";
}

void set_bin_dir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(bin_mu);
  bin_dir = dir.empty() ? std::string(kBinDir) : dir;
}

core::Status write_conf(const Paths& paths, const Config& cfg) {
  std::string c = "# Managed by polarstack; rewritten on every start. Do not edit.\n";
  auto set = [&](const std::string& k, const std::string& v) { c += k + " = " + conf_quote(v) + "\n"; };
  for (const auto& [k, v] : cfg.parameters) set(k, v);
  set("listen_addresses", cfg.host);
  set("port", std::to_string(cfg.port));
  set("unix_socket_directories", paths.run());
  set("wal_level", "replica");
  set("hot_standby", "on");
  set("hot_standby_feedback", "on");
  set("wal_log_hints", "on");
  // The user's own (spec.parameters, at least readers + 2) replace these defaults.
  if (!cfg.parameters.count("max_wal_senders")) set("max_wal_senders", "20");
  if (!cfg.parameters.count("max_replication_slots")) set("max_replication_slots", "20");
  set("cluster_name", cfg.name);
  set("synchronous_standby_names", sync_standby_names(cfg));
  // Replies at least every second (a primary's lease is renewed by them); a primary silent
  // for 5 s is given up on (the receiver asks it for a reply after 2.5 s).
  set("wal_receiver_status_interval", "1s");
  set("wal_receiver_timeout", "5s");
  // A replica whose primary went away retries every 200 ms, not every 5 s (the default): a
  // promotion requested while its startup process waits out that interval, right after a
  // reload, was seen to wait for the rest of it; and a replica told to follow a new
  // primary connects sooner.
  set("wal_retrieve_retry_interval", "200ms");
  if (cfg.role == "replica" && !cfg.detached) {
    set("primary_conninfo", "host=" + cfg.primary_host + " port=" + std::to_string(cfg.primary_port) + " user=" +
                                kReplicationUser + " passfile=" + paths.pgpass() + " application_name=" + cfg.name);
    set("primary_slot_name", cfg.slot);
  } else if (cfg.role == "replica") {
    set("primary_conninfo", "");
  }
  if (auto st = core::write_file_atomic(paths.data() + "/polarstack.conf", c); !st) return st;
  // Peer: the connecting process's OS user (ours; PostgreSQL runs as the same user) maps
  // to the superuser. Socket connections of anyone else, and every TCP connection, need
  // a password.
  struct passwd* pw = ::getpwuid(::geteuid());
  std::string os_user = pw && pw->pw_name ? pw->pw_name : "postgres";
  if (os_user.find_first_of("\" \t\n\r") != std::string::npos) {
    return core::fail(Code::kInvalid, "OS user name \"" + os_user + "\" cannot be written to pg_ident.conf");
  }
  std::string hba =
      "# Managed by polarstack; rewritten on every start. Do not edit.\n"
      "local   all          " + std::string(kSuperuser) + "                   peer map=polarstack\n"
      "local   all          all                        scram-sha-256\n"
      "local   replication  all                        scram-sha-256\n"
      "host    all          all         127.0.0.1/32   scram-sha-256\n"
      "host    replication  all         127.0.0.1/32   scram-sha-256\n";
  if (!cfg.peer_network.empty()) {  // a node network (runtime/local/netns.h): peers, the control plane
    hba += "host    all          all         " + cfg.peer_network + "   scram-sha-256\n"
           "host    replication  all         " + cfg.peer_network + "   scram-sha-256\n";
  }
  if (auto st = core::write_file_atomic(paths.data() + "/pg_hba.conf", hba); !st) return st;
  std::string ident = "# Managed by polarstack; rewritten on every start. Do not edit.\npolarstack  \"" + os_user +
                      "\"  " + kSuperuser + "\n";
  return core::write_file_atomic(paths.data() + "/pg_ident.conf", ident);
}

core::Result<std::string> shutdown_checkpoint_lsn(const Paths& paths) {
  auto r = core::run({bin("pg_controldata"), "-D", paths.data()}, std::chrono::seconds(10), {{"LC_ALL", "C"}});
  if (!r) return std::unexpected(r.error());
  if (r->exit_code != 0) return core::fail(Code::kInternal, "pg_controldata: " + core::trim_right(r->output));
  auto field = [&](const std::string& name) {
    size_t at = r->output.find("\n" + name + ":");
    if (at == std::string::npos) return std::string();
    size_t start = r->output.find_first_not_of(' ', at + name.size() + 2);
    size_t end = r->output.find('\n', start);
    return start == std::string::npos ? std::string() : r->output.substr(start, end - start);
  };
  std::string state = field("Database cluster state");
  if (state != "shut down") return core::fail(Code::kConflict, "not shut down cleanly (state: " + state + ")");
  std::string lsn = field("Latest checkpoint location");
  if (lsn.empty()) return core::fail(Code::kInternal, "pg_controldata shows no checkpoint location");
  return lsn;
}

std::optional<pid_t> running_postmaster(const Paths& paths) {
  std::ifstream in(paths.data() + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  if (!core::process_alive(static_cast<pid_t>(pid))) return std::nullopt;
  auto args = core::process_cmdline(static_cast<pid_t>(pid));
  if (args.empty() || args[0].find("postgres") == std::string::npos) return std::nullopt;
  return static_cast<pid_t>(pid);
}

core::Result<pid_t> start_postmaster(const Paths& paths) {
  if (auto st = core::ensure_dir(paths.run()); !st) return std::unexpected(st.error());
  core::SpawnOptions o;
  o.argv = {bin("postgres"), "-D", paths.data()};
  o.stdout_path = paths.postgres_log();
  o.new_process_group = true;
  auto child = core::spawn(o);
  if (!child) return std::unexpected(child.error());
  return child->release();  // the manager reaps it itself
}

core::Result<engine::WireConnection*> Prober::conn() {
  if (conn_ && conn_->ok()) return &*conn_;
  conn_.reset();
  auto c = engine::WireConnection::open({paths_.run(), cfg_.port, kSuperuser, "postgres", "polarstack-instance"},
                                        std::chrono::seconds(2));
  if (!c) return std::unexpected(c.error());
  conn_ = std::move(*c);
  ++connects_;
  return &*conn_;
}

Probe Prober::probe(std::chrono::milliseconds timeout) {
  Probe p;
  // Over the prober's long-lived connection: a probe forks no backend. (A postmaster
  // that hangs, e.g. stopped with SIGSTOP, still lets this session run: the manager
  // looks at the postmaster process itself, see Manager::status.) A connection broken by
  // a restart is opened again once within the same probe.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  core::Result<std::vector<engine::WireRow>> rows = core::fail(Code::kUnavailable, "not connected");
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = conn_ && conn_->ok();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (!reused) {
      conn_.reset();
      auto c = engine::WireConnection::open({paths_.run(), cfg_.port, kSuperuser, "postgres", "polarstack-probe"}, left);
      if (!c) {
        rows = std::unexpected(c.error());
        break;
      }
      conn_ = std::move(*c);
      ++connects_;
      left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    }
    rows = conn_->query_prepared("polarstack_probe",
      "select pg_is_in_recovery(), case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end, "
      "pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
      "coalesce((select received_tli from pg_stat_wal_receiver limit 1), "
      "(select timeline_id from pg_control_checkpoint())), "
      "coalesce((select status from pg_stat_wal_receiver limit 1), ''), current_setting('server_version'), "
      "(select sender_port from pg_stat_wal_receiver limit 1)", {}, std::max(left, std::chrono::milliseconds(1)));
    if (rows || !reused) break;
    conn_.reset();  // broken (the postmaster restarted, the backend was terminated): once more, fresh
  }
  if (!rows) p.error = rows.error().message;
  if (!rows || rows->empty() || (*rows)[0].size() < 8) {
    if (rows) p.error = "unexpected probe result";
    return p;
  }
  const auto& r = (*rows)[0];
  p.connected = true;
  p.in_recovery = r[0].value_or("f") == "t";
  p.current_lsn = r[1].value_or("");
  p.received_lsn = r[2].value_or("");
  p.replayed_lsn = r[3].value_or("");
  p.timeline = r[4] ? std::stoll(*r[4]) : 0;
  p.streaming = r[5].value_or("") == "streaming";
  p.version = r[6].value_or("");
  p.sender_port = r[7] ? std::atoi(r[7]->c_str()) : 0;
  return p;
}

core::Status Prober::ensure_replication_role() {
  auto c = conn();
  if (!c) return std::unexpected(c.error());
  auto pw = core::read_secret(paths_.replication_password());
  if (!pw) return std::unexpected(pw.error());
  const std::string& password = *pw;
  // DDL takes no parameters: the password is a generated hex string, quoted as a literal.
  for (char ch : password) {
    if (!isxdigit(static_cast<unsigned char>(ch))) return core::fail(Code::kInvalid, "replication password is not hex");
  }
  return (*c)->exec(std::string("do $$ begin if not exists (select 1 from pg_roles where rolname = '") +
                    kReplicationUser + "') then create role " + kReplicationUser +
                    " with replication login password '" + password + "'; end if; end $$");
}

core::Status Prober::ensure_slot(const std::string& slot) {
  auto c = conn();
  if (!c) return std::unexpected(c.error());
  return (*c)->exec(
      "select pg_create_physical_replication_slot($1, true) where not exists "
      "(select 1 from pg_replication_slots where slot_name = $1)",
      {slot});
}

core::Status Prober::drop_slot(const std::string& slot) {
  auto c = conn();
  if (!c) return std::unexpected(c.error());
  // An active slot cannot be dropped: end its walsender first.
  (void)(*c)->exec("select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = $1 and active",
                   {slot});
  for (int i = 0; i < 50; ++i) {
    auto r = (*c)->exec("select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 "
                        "and not active",
                        {slot});
    if (!r) return r;
    auto left = (*c)->query("select 1 from pg_replication_slots where slot_name = $1", {slot});
    if (left && left->empty()) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the walsender is exiting
  }
  return core::fail(Code::kConflict, "slot " + slot + " is still in use");
}

core::Status Prober::promote() {
  auto c = conn();
  if (!c) return std::unexpected(c.error());
  // pg_promote(wait => true) looks for the end of recovery only every 100 ms: signal it,
  // then look every 5 ms here (the promotion itself takes a few tens of milliseconds).
  auto r = (*c)->query("select pg_promote(false)", {}, std::chrono::seconds(5));
  if (!r) return std::unexpected(r.error());
  if (r->empty() || (*r)[0][0].value_or("f") != "t") return core::fail(Code::kInternal, "pg_promote refused to promote");
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30); std::chrono::steady_clock::now() < until;) {
    auto rec = (*c)->query("select pg_is_in_recovery()", {}, std::chrono::seconds(5));
    if (!rec) return std::unexpected(rec.error());
    if (!rec->empty() && (*rec)[0][0].value_or("t") == "f") return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling PostgreSQL's end of recovery
  }
  return core::fail(Code::kUnavailable, "the promotion did not complete within 30 s");
}

core::Result<std::string> Prober::last_replica_reply() {
  auto c = conn();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->query("select coalesce(max(reply_time)::text, '') from pg_stat_replication", {},
                          std::chrono::milliseconds(500));
  if (!rows) return std::unexpected(rows.error());
  return rows->empty() ? std::string() : (*rows)[0][0].value_or("");
}

core::Result<bool> Prober::receiving() {
  auto c = conn();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->query("select count(*) from pg_stat_wal_receiver where pid is not null");
  if (!rows) return std::unexpected(rows.error());
  return !rows->empty() && (*rows)[0][0].value_or("0") != "0";
}

core::Status Prober::reload() {
  auto c = conn();
  if (!c) return std::unexpected(c.error());
  return (*c)->exec("select pg_reload_conf()");
}

static std::string lowered(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

core::Result<Prober::Settings> Prober::settings(const std::vector<std::string>& names) {
  auto c = conn();
  if (!c) return std::unexpected(c.error());
  std::string list = "{";
  for (const auto& n : names) list += (list.size() > 1 ? "," : "") + ("\"" + n + "\"");
  list += "}";
  auto rows = (*c)->query(
      "select name, coalesce(current_setting(name, true), ''), pending_restart from pg_settings "
      "where lower(name) = any(select lower(x) from unnest($1::text[]) x) or pending_restart "
      "union all select x, coalesce(current_setting(x, true), ''), false from unnest($1::text[]) x "
      "where position('.' in x) > 0 and not exists (select 1 from pg_settings where name = x)",
      {list});
  if (!rows) return std::unexpected(rows.error());
  Settings out;
  for (const auto& r : *rows) {
    if (r.size() < 3) continue;
    std::string name = r[0].value_or("");
    bool wanted = false;
    for (const auto& n : names) {
      if (lowered(n) == lowered(name)) wanted = true, name = n;
    }
    if (wanted) out.applied[name] = r[1].value_or("");
    if (r[2].value_or("") == "t") out.pending_restart.push_back(name);
  }
  return out;
}

core::Result<std::vector<std::string>> Prober::file_errors() {
  auto c = conn();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->query(
      "select coalesce(name, ''), error from pg_file_settings f where error is not null and not exists "
      "(select 1 from pg_settings s where s.name = f.name and s.pending_restart)");
  if (!rows) return std::unexpected(rows.error());
  std::vector<std::string> out;
  for (const auto& r : *rows) {
    if (r.size() >= 2) out.push_back(r[0].value_or("") + ": " + r[1].value_or(""));
  }
  return out;
}

StartOutcome read_start_outcome(const std::string& log_path, int64_t offset) {
  StartOutcome out;
  int fd = ::open(log_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  std::string text(256 * 1024, '\0');
  ssize_t n = ::pread(fd, text.data(), text.size(), offset);
  ::close(fd);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  size_t at = 0;
  int kept = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() : nl + 1;
    if (line.find("database system is ready to accept") != std::string::npos) out.came_up = true;
    size_t level = std::string::npos;
    for (const char* l : {"FATAL:", "PANIC:", "ERROR:", "LOG:", "DETAIL:", "HINT:"}) {
      if (size_t p = line.find(l); p != std::string::npos && p < level) level = p;
    }
    if (level == std::string::npos) continue;
    std::string msg = line.substr(level);
    bool is_error = msg.rfind("FATAL:", 0) == 0 || msg.rfind("PANIC:", 0) == 0 || msg.rfind("ERROR:", 0) == 0;
    bool names_parameter = msg.rfind("LOG:", 0) == 0 && msg.find("parameter \"") != std::string::npos;
    bool detail = (msg.rfind("DETAIL:", 0) == 0 || msg.rfind("HINT:", 0) == 0) && kept > 0;
    if ((is_error || names_parameter || detail) && kept < 6) {
      // "FATAL:  x" -> "FATAL: x"
      size_t colon = msg.find(':');
      size_t text_at = msg.find_first_not_of(' ', colon + 1);
      out.errors += (out.errors.empty() ? "" : "; ") + msg.substr(0, colon + 1) + " " +
                    (text_at == std::string::npos ? "" : msg.substr(text_at));
      ++kept;
    }
  }
  return out;
}

int64_t dir_bytes(const std::string& dir) {
  std::error_code ec;
  int64_t total = 0;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) total += static_cast<int64_t>(it->file_size(e2));
  }
  return total;
}

}  // namespace polarstack::instance
