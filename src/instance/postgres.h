// The PostgreSQL side of the instance manager: bootstrap (initdb or pg_basebackup),
// the configuration polarstack owns, starting the postmaster, and probing it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <optional>
#include <vector>
#include <string>

#include "core/error.h"
#include "core/json.h"
#include "engine/wire.h"
#include "instance/config.h"

namespace polarstack::instance {

// The directory of PostgreSQL binaries every tool below runs from (Config::bin_dir;
// empty: the system's). Set by the manager from its config.
void set_bin_dir(const std::string& dir);

// Creates <data> if it does not exist yet: initdb for a primary, pg_basebackup from the
// primary (through its replication slot) for a replica. Works in <data>.tmp and renames
// at the end, so an interrupted bootstrap starts over instead of leaving half a PGDATA.
core::Status bootstrap(const Paths& paths, const Config& cfg, const std::atomic<bool>& stop);

// (Re)writes <data>/polarstack.conf (included from postgresql.conf): the settings
// polarstack owns plus the user's parameters; and pg_hba.conf and pg_ident.conf: the
// manager's OS user may connect over the unix socket as the superuser by peer
// authentication, everyone else needs a password (scram-sha-256), on 127.0.0.1 only.
core::Status write_conf(const Paths& paths, const Config& cfg);
// The synchronous_standby_names value for cfg: 'ANY k ("a", "b")', or "" (async).
std::string sync_standby_names(const Config& cfg);

// Makes the stopped <data> a replica of cfg's primary that can stream from it: pg_rewind
// against the primary (a no-op when the histories did not diverge), then standby.signal.
// The source's configuration files that pg_rewind copies are replaced by write_conf at
// the next start.
core::Status rewind(const Paths& paths, const Config& cfg, const std::atomic<bool>& stop);

// Discards <data> and clones it again from cfg's primary (bootstrap as a replica): the
// fallback when rewind fails.
core::Status reclone(const Paths& paths, const Config& cfg, const std::atomic<bool>& stop);

// Where the WAL of a cleanly shut down <data> ends: its shutdown checkpoint's location
// (pg_controldata). An error if the cluster was not shut down cleanly.
core::Result<std::string> shutdown_checkpoint_lsn(const Paths& paths);

// The pid of a running postmaster of <data> (from postmaster.pid), if any.
std::optional<pid_t> running_postmaster(const Paths& paths);

// Starts `postgres -D <data>` in its own process group, output to postgres.log.
core::Result<pid_t> start_postmaster(const Paths& paths);

struct Probe {
  bool connected = false;
  bool in_recovery = false;
  bool streaming = false;      // replica: the WAL receiver is streaming
  std::string current_lsn;     // primary
  std::string received_lsn;    // replica
  std::string replayed_lsn;    // replica
  int64_t timeline = 0;
  int sender_port = 0;         // replica: the port its WAL receiver streams from
  std::string version;
  std::string error;
};

// A long-lived connection over the unix socket as the superuser (peer authentication),
// for probing and administration, opened again as needed.
class Prober {
 public:
  explicit Prober(Paths paths, Config cfg) : paths_(std::move(paths)), cfg_(std::move(cfg)) {}
  Probe probe(std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));
  // Creates the replication role on a primary if missing (idempotent).
  core::Status ensure_replication_role();
  core::Status ensure_slot(const std::string& slot);
  core::Status drop_slot(const std::string& slot);
  core::Status promote();
  core::Status reload();
  // What PostgreSQL runs with: current_setting() of each of `names`, and every parameter
  // waiting for a restart (pg_settings.pending_restart).
  struct Settings {
    std::map<std::string, std::string> applied;
    std::vector<std::string> pending_restart;
  };
  core::Result<Settings> settings(const std::vector<std::string>& names);
  // After a reload: the configuration file's lines PostgreSQL refused (pg_file_settings),
  // "name: error" each; a postmaster parameter waiting for a restart is not an error.
  core::Result<std::vector<std::string>> file_errors();
  // Primary: the latest reply_time of its replicas (pg_stat_replication), "" if none.
  core::Result<std::string> last_replica_reply();
  // Replica: whether a WAL receiver runs.
  core::Result<bool> receiving();
  void reset() { conn_.reset(); }
  // How many connections it opened (each one a backend forked by the postmaster).
  int64_t connects() const { return connects_; }

 private:
  core::Result<engine::WireConnection*> conn();
  Paths paths_;
  Config cfg_;
  std::optional<engine::WireConnection> conn_;
  int64_t connects_ = 0;
};

// What PostgreSQL wrote to its log from `offset` on, at a postmaster's exit: whether it
// had come up ("database system is ready to accept ..."), and its errors (FATAL, PANIC,
// ERROR lines and the LOG lines naming a parameter), joined.
struct StartOutcome {
  bool came_up = false;
  std::string errors;
};
StartOutcome read_start_outcome(const std::string& log_path, int64_t offset);

// Bytes under `dir` (0 if it does not exist).
int64_t dir_bytes(const std::string& dir);

}  // namespace polarstack::instance
