// The Runtime ports: where instances of a cluster run (Placement) and what their
// instance managers do when asked (InstanceAgent). The domain (src/cluster, src/ha) uses
// only these; adapters: runtime/local (daemonized processes on this machine) and,
// later, runtime/kubernetes (Pods).
//
// Every call is idempotent, so a workflow step that is run again after a crash does no
// harm: ensure_* creates what is missing and starts what is stopped, remove_* of
// something already gone succeeds.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace polarstack::runtime {

struct ClusterKey {
  std::string ns, name;
  std::string str() const { return ns + "/" + name; }
};

struct InstanceSpec {
  std::string name;         // e.g. "c1-0"
  std::string role;         // how it is bootstrapped: "primary" (empty database) or "replica" (a clone);
                            // empty: only (re)start an existing instance's manager
  std::string primary;      // replica: the instance to clone and stream from
  std::string node;         // empty: the runtime chooses
  std::map<std::string, std::string> parameters;
  std::string engine;       // PostgreSQL build: "15" or "" (the system's), "15.<minor>" (installed)
  std::string cpu, memory;  // limits (quantities; empty: none): a cgroup for its processes
};

// What an instance is configured to run (Runtime::configure).
struct Configuration {
  std::map<std::string, std::string> parameters;
  std::string engine;       // as InstanceSpec::engine
  std::string cpu, memory;  // as InstanceSpec
};

// Where an instance lives (known without asking it).
struct InstanceInfo {
  std::string name, role, node;
  int port = 0;             // PostgreSQL
  int api_port = 0;         // instance manager
  bool manager_running = false;
  std::string host = "127.0.0.1";  // the address both listen on (its node's)
};

// What the instance manager reports (asked each time).
struct InstanceState {
  bool reachable = false;   // the instance manager answered
  std::string role;         // primary, replica or unknown (PostgreSQL's view)
  std::string state;        // Bootstrapping, Running, Restarting, CrashLoop, ...
  bool ready = false;
  std::string lsn;          // current (primary) or replayed (replica)
  std::string received_lsn;
  int64_t timeline = 0;
  int postmaster_pid = -1;
  int sender_port = 0;      // replica: the PostgreSQL port its WAL receiver streams from
  int64_t data_dir_bytes = 0;
  int restarts = 0;
  std::string version;
  std::string sync_standby_names;  // primary: its synchronous_standby_names ("" = async)
  bool fenced = false;      // shut down and kept down until it follows a new primary
  std::string fenced_lsn;   // where its WAL ended
  uint64_t term = 0;        // fencing token: its own as a primary, the last one told as a replica
  bool detached = false;    // a replica told to stop streaming (CM, before a lease-based failover)
  int64_t lease_remaining_ms = 0;  // primary: until it fences itself unless renewed
  int orphans_killed = -1;         // at the postmaster's last death: orphaned processes killed (-1: none yet)
  int64_t orphan_window_us = -1;   // ... and how soon after the manager learned of that death
  std::string last_error;
  // The user's parameters: as configured (instance.json), as PostgreSQL runs them
  // (current_setting), and those waiting for a restart (pg_settings.pending_restart).
  std::map<std::string, std::string> parameters, applied_parameters;
  std::vector<std::string> pending_restart;
  std::string engine;       // the build it is configured to run ("15.20"; empty: the system's), from
                            // its next start on; `version` is the one running
  std::string cpu, memory;  // the limits it is configured with (empty: none)
  std::string start_lsn;    // primary: its WAL position when its postmaster first answered
  int start_failures = 0;   // starts in a row that ended before PostgreSQL came up (last_error: why)
};

// What a Cluster Manager's probe tells an instance manager (instance/manager_internal.h).
struct CmGrant {
  bool active = false;            // a CM acts for the cluster: a primary whose postmaster dies is
                                  // left down for it to decide about; false: HA is paused
  std::chrono::milliseconds lease{0};  // the primary accepts writes only while it holds a lease
                                  // this long, renewed by these probes and by its replicas; 0: no
                                  // lease (revoked); negative: not renewed by this probe
  uint64_t term = 0;              // the current primary's term: a primary with a lower one is stale
};

struct EndpointsInfo {
  int read_write_port = 0;
  int read_only_port = 0;
  bool running = false;
};

// Placement: where instances run and what surrounds them (instances, endpoints, the
// Cluster Manager, secrets, engines). The operator's workflows use it; the CM reads the
// instances and whether HA is paused, and brings back an instance manager it found down.
class Placement {
 public:
  virtual ~Placement() = default;
  // Generated passwords and the per-cluster API token; kept until remove_cluster.
  virtual core::Status ensure_secrets(const ClusterKey& c) = 0;
  virtual core::Result<std::string> superuser_password(const ClusterKey& c) = 0;
  virtual core::Result<InstanceInfo> ensure_instance(const ClusterKey& c, const InstanceSpec& spec) = 0;
  virtual core::Result<std::vector<InstanceInfo>> list_instances(const ClusterKey& c) = 0;
  // The exact installed version `engine` names ("15": the system's), or kInvalid listing
  // the installed ones.
  virtual core::Result<std::string> resolve_engine(const std::string& engine) = 0;
  // The cluster's Cluster Manager (src/ha/cm.h): one per cluster, started here and
  // independent of the operator. remove_ stops it (before a Delete removes instances).
  virtual core::Status ensure_cluster_manager(const ClusterKey& c) = 0;
  virtual bool cluster_manager_running(const ClusterKey& c) = 0;
  virtual core::Status remove_cluster_manager(const ClusterKey& c) = 0;
  // Pauses (true) or resumes automatic failover: workflows that must not race the CM
  // (Switchover) hold it paused while they run. Kept across restarts of everything.
  virtual core::Status set_ha_paused(const ClusterKey& c, bool paused) = 0;
  virtual bool ha_paused(const ClusterKey& c) = 0;
  // Stops the instance (and its manager) and, unless keep_data, removes its data.
  virtual core::Status remove_instance(const ClusterKey& c, const std::string& name, bool keep_data) = 0;
  // The cluster's read-write and read-only addresses (ports 0: allocate).
  virtual core::Result<EndpointsInfo> ensure_endpoints(const ClusterKey& c, int read_write_port, int read_only_port) = 0;
  virtual core::Status remove_endpoints(const ClusterKey& c) = 0;
  // Whether what serves the endpoints (the proxy in local mode) is running.
  virtual bool endpoints_running(const ClusterKey& c) = 0;
  // Removes what is left of the cluster (secrets, directories) once its instances are gone.
  virtual core::Status remove_cluster(const ClusterKey& c, bool keep_data) = 0;
  // Nothing: only the ports the runtime is given may be requested. Empty: fine.
  virtual std::string check_port(const ClusterKey& c, int port) = 0;
};

// The instance agent: what each instance's manager does when asked (state, restart,
// configure, fence, promote, follow, slots, sync replication). One client serves the
// operator's workflows and the Cluster Manager.
class InstanceAgent {
 public:
  virtual ~InstanceAgent() = default;
  virtual core::Result<InstanceState> instance_state(const ClusterKey& c, const std::string& name) = 0;
  // Physical replication slots on `on` (the primary).
  virtual core::Status ensure_slot(const ClusterKey& c, const std::string& on, const std::string& slot) = 0;
  virtual core::Status drop_slot(const ClusterKey& c, const std::string& on, const std::string& slot) = 0;
  // instance_state within `timeout`, for the Cluster Manager's probes, telling the
  // instance manager what `grant` says (lease, term, whether a CM acts).
  virtual core::Result<InstanceState> probe(const ClusterKey& c, const std::string& name,
                                            std::chrono::milliseconds timeout, const CmGrant& grant) = 0;
  // For the Cluster Manager's loop: waits up to `timeout` for word pushed by an instance
  // of `c` probed through this runtime (its postmaster died), so that the CM probes again
  // at once instead of at its next interval. True if word came (a hint only: what
  // happened is what the next probe says).
  virtual bool wait_instance_event(const ClusterKey& c, std::chrono::milliseconds timeout) = 0;
  // Makes a replica stop streaming from its primary (so it no longer renews that
  // primary's lease) until it follows another or is promoted. Returns once it stopped.
  virtual core::Status detach(const ClusterKey& c, const std::string& name) = 0;
  // Sync replication on the primary `on`: commits wait until k of `standbys` flushed them
  // (synchronous_standby_names = ANY k (...)); an empty list: asynchronous.
  virtual core::Status set_sync_standbys(const ClusterKey& c, const std::string& on,
                                         const std::vector<std::string>& standbys, int k) = 0;
  // Restarts the instance's PostgreSQL in place. `if_postmaster_pid` > 0: only if that
  // is the postmaster running now and its restart was not asked for already (a step run
  // again after a crash restarts nothing twice); see InstanceState::postmaster_pid.
  virtual core::Status restart(const ClusterKey& c, const std::string& name, int if_postmaster_pid) = 0;
  // Sets the instance's parameters (spec.parameters) and engine from now on. `reload`:
  // PostgreSQL applies what parameters it can at once (a postmaster parameter waits for
  // the next start: InstanceState::pending_restart); else, and for the engine, they take
  // effect at its next start. Returns the configuration lines PostgreSQL refused on the
  // reload ("name: why"), if any. kInvalid for an engine that is not installed. CPU and
  // memory limits apply at once, to every process of the instance; kUnsupported where
  // the runtime cannot enforce them (say why: no root, no cgroup controllers).
  virtual core::Result<std::vector<std::string>> configure(const ClusterKey& c, const std::string& name,
                                                           const Configuration& config, bool reload) = 0;
  // Fences an instance: a clean shutdown that ends every session, after which it stays
  // down (across manager restarts) until it is told to follow a new primary. Returns the
  // LSN where its WAL ends; a replica that replayed past it lost nothing. Idempotent.
  // `grace`: how long the clean shutdown may take before the instance's processes are
  // killed (a failover gives a failed primary little; a switchover waits).
  virtual core::Result<std::string> fence(const ClusterKey& c, const std::string& name,
                                          std::chrono::milliseconds grace) = 0;
  // Undoes fence(): the instance starts again in its configured role. Only when nobody
  // else was promoted meanwhile (a cancelled switchover).
  virtual core::Status unfence(const ClusterKey& c, const std::string& name) = 0;
  // Promotes a replica to primary (it stays one across restarts), with a term higher than
  // any instance of the cluster reports.
  virtual core::Status promote(const ClusterKey& c, const std::string& name) = 0;
  // Makes `name` a replica of `primary`, ensuring a slot for it there first: a replica
  // switches its upstream; a former primary (demote) is stopped, rewound with pg_rewind
  // or, failing that, cloned again. Returns once the instance accepted it; instance_state
  // shows the progress (sender_port is the new primary's port once it streams).
  // `replayed_past`: an LSN the new primary is known to have replayed past (a switchover
  // passes the old primary's fenced LSN): an instance whose WAL ends exactly there, by a
  // clean shutdown, follows without a rewind. Empty: nothing is known.
  virtual core::Status follow(const ClusterKey& c, const std::string& name, const std::string& primary,
                              const std::string& replayed_past = "") = 0;
};

// Both ports, as one adapter provides them (runtime/local; later runtime/kubernetes).
// Code that needs only one takes that one; tests give fakes of either.
class Runtime : public Placement, public InstanceAgent {};


}  // namespace polarstack::runtime
