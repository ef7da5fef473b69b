// The cluster domain's API port (cluster/ports.h) over the Kubernetes API client.
#pragma once

#include <memory>
#include <mutex>

#include "cluster/ports.h"
#include "kube/client.h"

namespace polarstack::kube {

class KubeClusterApi : public cluster::ClusterApi {
 public:
  explicit KubeClusterApi(Client& client, std::string component = "polarstack-operator")
      : client_(client), component_(std::move(component)) {}
  core::Result<Json> get_cluster(const std::string& ns, const std::string& name) override;
  core::Result<Json> get_config_map(const std::string& ns, const std::string& name) override;
  core::Status patch_cluster(const std::string& ns, const std::string& name, const Json& merge_patch) override;
  core::Status ensure_secret(const std::string& ns, const std::string& name,
                             const std::map<std::string, std::string>& data) override;
  core::Status delete_secret(const std::string& ns, const std::string& name) override;
  core::Status create_operation(const std::string& ns, const Json& object) override;
  core::Status patch_cluster_status(const std::string& ns, const std::string& name, const Json& merge_patch) override;
  core::Result<Json> write_operation_status(const std::string& ns, const std::string& name, const Json& status) override;
  core::Result<Json> patch_operation(const std::string& ns, const std::string& name, const Json& merge_patch) override;
  core::Status delete_operation(const std::string& ns, const std::string& name) override;
  void record_event(const Json& involved, const std::string& type, const std::string& reason,
                    const std::string& message) override;

 private:
  Client& client_;
  std::string component_;
};

// The same over a kubeconfig file that is read again whenever it changes: a local server
// restarted on another port rewrites it, and the long-lived processes that talk to it
// (the Cluster Manager) follow. Until the file can be loaded, every call fails.
class KubeconfigClusterApi : public cluster::ClusterApi {
 public:
  KubeconfigClusterApi(std::string kubeconfig_path, std::string component)
      : path_(std::move(kubeconfig_path)), component_(std::move(component)) {}
  // See Client::set_keep_alive.
  void set_keep_alive(bool on) { keep_alive_ = on; }
  core::Result<Json> get_cluster(const std::string& ns, const std::string& name) override;
  core::Result<Json> get_config_map(const std::string& ns, const std::string& name) override;
  core::Status patch_cluster(const std::string& ns, const std::string& name, const Json& merge_patch) override;
  core::Status ensure_secret(const std::string& ns, const std::string& name,
                             const std::map<std::string, std::string>& data) override;
  core::Status delete_secret(const std::string& ns, const std::string& name) override;
  core::Status create_operation(const std::string& ns, const Json& object) override;
  core::Status patch_cluster_status(const std::string& ns, const std::string& name, const Json& merge_patch) override;
  core::Result<Json> write_operation_status(const std::string& ns, const std::string& name, const Json& status) override;
  core::Result<Json> patch_operation(const std::string& ns, const std::string& name, const Json& merge_patch) override;
  core::Status delete_operation(const std::string& ns, const std::string& name) override;
  void record_event(const Json& involved, const std::string& type, const std::string& reason,
                    const std::string& message) override;

 private:
  // The API for the kubeconfig as it is now (reloaded if the file changed).
  core::Result<cluster::ClusterApi*> current();
  std::string path_, component_, loaded_;
  bool keep_alive_ = true;
  std::unique_ptr<Client> client_;
  std::unique_ptr<KubeClusterApi> api_;
  std::mutex mu_;
};

}  // namespace polarstack::kube
