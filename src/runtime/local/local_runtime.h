// The local runtime: instances are `polarstack-instance` daemons on this machine (not
// children of the server: killing the server leaves every database serving), found
// again through their directories, pid files and instance API. Endpoints are one
// `polarstack proxy` daemon per cluster.
//
//   <data_root>/clusters/<ns>.<name>/secrets/     passwords and the cluster's API token (0600)
//   <data_root>/clusters/<ns>.<name>/endpoints/   the proxy's config, pid and log
//   <data_root>/clusters/<ns>.<name>/cm/          the Cluster Manager's config, pid, log,
//                                                 state and the ha-paused flag
//   <node root>/<ns>.<name>/<instance>/           one instance (see instance/config.h)
//   <data_root>/ports.json                        who holds which port
//
// When run as root, instance managers (and so PostgreSQL) run as the `postgres` OS user,
// which owns the instance directories; every parent directory must be traversable by it.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/json.h"
#include "runtime/local/instance_client.h"
#include "runtime/local/node.h"
#include "runtime/local/notify.h"
#include "runtime/local/ports.h"
#include "runtime/runtime.h"

namespace polarstack::runtime::local {

struct Options {
  std::string data_root;
  std::vector<Node> nodes;     // at least one
  std::string self_exe;        // the polarstack binary to start daemons with
  std::string kubeconfig;      // what the endpoint proxies use to follow cluster status
  std::string endpoint_mode = "auto";  // auto | redirect | relay (proxy.h, redirect.h)
};

// The default data root: /var/lib/polarstack for root, else $POLARSTACK_HOME/data.
std::string default_data_root(const std::string& home);

class LocalRuntime : public Runtime {
 public:
  static core::Result<std::unique_ptr<LocalRuntime>> open(Options opts);
  // Stops every instance manager (with its PostgreSQL) and proxy under `opts`' roots,
  // by their verified pid files; data stays. Returns how many daemons were stopped.
  static int stop_all(const Options& opts);
  // Options <-> JSON, so that `polarstack stop --all` finds what a server used.
  static core::Json options_json(const Options& opts);
  static core::Result<Options> options_from_json(const core::Json& j);

  core::Status ensure_secrets(const ClusterKey& c) override;
  core::Result<std::string> superuser_password(const ClusterKey& c) override;
  core::Result<InstanceInfo> ensure_instance(const ClusterKey& c, const InstanceSpec& spec) override;
  core::Result<std::vector<InstanceInfo>> list_instances(const ClusterKey& c) override;
  core::Result<InstanceState> instance_state(const ClusterKey& c, const std::string& name) override;
  core::Status ensure_slot(const ClusterKey& c, const std::string& on, const std::string& slot) override;
  core::Status drop_slot(const ClusterKey& c, const std::string& on, const std::string& slot) override;
  core::Result<InstanceState> probe(const ClusterKey& c, const std::string& name, std::chrono::milliseconds timeout,
                                    const CmGrant& grant) override;
  bool wait_instance_event(const ClusterKey& c, std::chrono::milliseconds timeout) override;
  core::Status detach(const ClusterKey& c, const std::string& name) override;
  core::Status restart(const ClusterKey& c, const std::string& name, int if_postmaster_pid) override;
  core::Result<std::vector<std::string>> configure(const ClusterKey& c, const std::string& name,
                                                   const Configuration& config, bool reload) override;
  core::Result<std::string> resolve_engine(const std::string& engine) override;
  core::Status set_sync_standbys(const ClusterKey& c, const std::string& on, const std::vector<std::string>& standbys,
                                 int k) override;
  core::Status ensure_cluster_manager(const ClusterKey& c) override;
  bool cluster_manager_running(const ClusterKey& c) override;
  core::Status remove_cluster_manager(const ClusterKey& c) override;
  core::Status set_ha_paused(const ClusterKey& c, bool paused) override;
  bool ha_paused(const ClusterKey& c) override;
  core::Result<std::string> fence(const ClusterKey& c, const std::string& name, std::chrono::milliseconds grace) override;
  core::Status unfence(const ClusterKey& c, const std::string& name) override;
  core::Status promote(const ClusterKey& c, const std::string& name) override;
  core::Status follow(const ClusterKey& c, const std::string& name, const std::string& primary,
                      const std::string& replayed_past = "") override;
  core::Status remove_instance(const ClusterKey& c, const std::string& name, bool keep_data) override;
  core::Result<EndpointsInfo> ensure_endpoints(const ClusterKey& c, int read_write_port, int read_only_port) override;
  core::Status remove_endpoints(const ClusterKey& c) override;
  bool endpoints_running(const ClusterKey& c) override;
  core::Status remove_cluster(const ClusterKey& c, bool keep_data) override;
  std::string check_port(const ClusterKey& c, int port) override;

 private:
  explicit LocalRuntime(Options opts);
  std::string cluster_dir(const ClusterKey& c) const;
  std::string node_root(const Node& n) const;
  std::string instance_dir(const Node& n, const ClusterKey& c, const std::string& name) const;
  // The directory of an existing instance, searching every node ("" if none).
  std::string find_instance(const ClusterKey& c, const std::string& name, const Node** node = nullptr) const;
  core::Result<InstanceInfo> info_of(const std::string& dir, const std::string& node);
  core::Status start_daemon(const std::string& dir, const std::vector<std::string>& args, bool as_postgres,
                            const std::string& log, const Node* node = nullptr);
  core::Status prepare_dir(const std::string& dir, bool for_postgres);
  // A per-cluster daemon (`polarstack <sub> --dir <dir>`, config <dir>/<sub>.json):
  // restarted when its config changes, started when it is not running.
  core::Status ensure_configured_daemon(const std::string& dir, const std::string& sub, const core::Json& cfg);
  core::Result<std::string> call(const ClusterKey& c, const std::string& name, const std::string& method,
                                 const std::string& path, int timeout_s = 5, const std::string& body = "");
  // A POST to the instance API whose answer carries nothing but success.
  core::Status post(const ClusterKey& c, const std::string& name, const std::string& path, int timeout_s,
                    const std::string& body = "");
  core::Result<std::string> call_ms(const ClusterKey& c, const std::string& name, const std::string& method,
                                    const std::string& path, std::chrono::milliseconds timeout,
                                    const std::string& body = "", const CmGrant* grant = nullptr);
  core::Result<InstanceState> state_from(const core::Result<std::string>& body);

  Options opts_;
  PortRegistry ports_;
  FileCache files_;            // instance.json, secrets and pid files, read when they change
  InstanceClient api_{files_};  // kept-alive connections to the instance managers
  // Where instances push word to (wait_instance_event), opened on first use.
  std::once_flag notify_once_;
  NotifySockets notify_;
  int pg_uid_ = -1, pg_gid_ = -1;  // set when running as root
  std::mutex mu_;
};

}  // namespace polarstack::runtime::local
