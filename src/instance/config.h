// What one instance manager supervises, as written by the runtime into the instance's
// directory (instance.json), and the layout of that directory. Shared by the manager
// (which reads it) and the local runtime (which writes it).
//
//   <dir>/instance.json   this config (0600)
//   <dir>/token           bearer token of the instance API (0600)
//   <dir>/secrets/        superuser and replication passwords, .pgpass (0600)
//   <dir>/data/           PGDATA
//   <dir>/run/            unix socket directory
//   <dir>/instance.lock   held (flock) by the running manager: never two copies
//   <dir>/instance.pid    the manager's pid
//   <dir>/instance.log, <dir>/postgres.log
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"

namespace polarstack::instance {

inline constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
inline constexpr const char* kSuperuser = "postgres";
inline constexpr const char* kReplicationUser = "replicator";

struct Config {
  std::string name;       // instance name, also application_name
  std::string cluster;    // "namespace/name"
  std::string role;       // "primary" (bootstrapped by initdb) or "replica" (pg_basebackup); the manager
                          // rewrites it when it is promoted or told to follow another primary
  int port = 0;           // PostgreSQL port on `host`
  int api_port = 0;       // instance API port on `host`
  std::string host = "127.0.0.1";  // the address it listens on: its node's (runtime/local/netns.h)
  std::string peer_network;        // "x.y.z.0/24": where its peers connect from (a node network), or empty
  std::string primary_host = "127.0.0.1";
  int primary_port = 0;   // replica: where to clone from and stream from
  std::string slot;       // replica: physical replication slot on the primary
  std::map<std::string, std::string> parameters;
  // The PostgreSQL build it runs (instance/engines.h): its version ("15.20") and its
  // binaries (empty: the system's, kBinDir). A change takes effect at the next start.
  std::string engine;
  std::string bin_dir;
  // Limits (quantities, empty: none), enforced by the runtime with these cgroups, which
  // the manager joins at its start (its postmaster and backends inherit them).
  std::string cpu, memory;
  std::vector<std::string> cgroups;
  // Fenced (POST /v1/fence): PostgreSQL was shut down cleanly and stays down, whatever
  // restarts, until the instance is told to follow a new primary. fenced_lsn is where its
  // WAL ended (the shutdown checkpoint): a replica that replayed past it has everything.
  bool fenced = false;
  std::string fenced_lsn;
  // Sync replication (set by the Cluster Manager on the primary): commits wait until
  // `sync_k` of these standbys (instance names = application_name) have flushed them.
  std::vector<std::string> sync_standbys;
  int sync_k = 0;
  // Fencing token: the term of the last promotion this instance knows of (its own, as a
  // primary; the cluster's, as told by the Cluster Manager's probes). A primary told of a
  // higher term is stale and fences itself.
  uint64_t term = 0;
  // Detached (POST /v1/detach): a replica that stopped streaming from its primary (and so
  // stopped renewing that primary's lease), until it is told to follow or is promoted.
  bool detached = false;

  core::Json to_json() const;
  static core::Result<Config> from_json(const core::Json& j);
};

struct Paths {
  std::string dir;
  std::string config() const { return dir + "/instance.json"; }
  std::string token() const { return dir + "/token"; }
  std::string secrets() const { return dir + "/secrets"; }
  std::string superuser_password() const { return secrets() + "/superuser"; }
  std::string replication_password() const { return secrets() + "/replication"; }
  std::string pgpass() const { return secrets() + "/pgpass"; }
  std::string rewind_pgpass() const { return secrets() + "/rewind.pgpass"; }  // superuser, for pg_rewind
  std::string data() const { return dir + "/data"; }
  std::string run() const { return dir + "/run"; }
  std::string lock() const { return dir + "/instance.lock"; }
  std::string pid() const { return dir + "/instance.pid"; }
  std::string log() const { return dir + "/instance.log"; }
  std::string postgres_log() const { return dir + "/postgres.log"; }
};

core::Result<Config> load_config(const Paths& paths);
// Writes instance.json atomically (the manager does when its role changes).
core::Status save_config(const Paths& paths, const Config& cfg);

}  // namespace polarstack::instance
