// What the PolarDBCluster domain needs from the API, as a port. Implemented over the
// API client in src/kube/cluster_api.h; tests may pass fakes.
#pragma once

#include <map>
#include <string>

#include "core/error.h"
#include "core/json.h"

namespace polarstack::cluster {

class ClusterApi {
 public:
  virtual ~ClusterApi() = default;
  virtual core::Result<core::Json> get_cluster(const std::string& ns, const std::string& name) = 0;
  // Merge patch of the object itself (metadata, e.g. finalizers).
  // A ConfigMap (kNotFound when there is none), e.g. the instance classes.
  virtual core::Result<core::Json> get_config_map(const std::string& ns, const std::string& name) = 0;
  virtual core::Status patch_cluster(const std::string& ns, const std::string& name, const core::Json& merge_patch) = 0;
  // Creates the Secret if it does not exist (an existing one is left as it is).
  virtual core::Status ensure_secret(const std::string& ns, const std::string& name,
                                     const std::map<std::string, std::string>& data) = 0;
  virtual core::Status delete_secret(const std::string& ns, const std::string& name) = 0;
  // kAlreadyExists when an operation of that name exists.
  virtual core::Status create_operation(const std::string& ns, const core::Json& object) = 0;
  virtual core::Status patch_cluster_status(const std::string& ns, const std::string& name,
                                            const core::Json& merge_patch) = 0;
  // Replaces the operation's status (the operator is its only writer); returns the object.
  virtual core::Result<core::Json> write_operation_status(const std::string& ns, const std::string& name,
                                                          const core::Json& status) = 0;
  virtual core::Result<core::Json> patch_operation(const std::string& ns, const std::string& name,
                                                   const core::Json& merge_patch) = 0;
  virtual core::Status delete_operation(const std::string& ns, const std::string& name) = 0;
  // Best effort: an event that cannot be written is logged, never fatal.
  virtual void record_event(const core::Json& involved, const std::string& type, const std::string& reason,
                            const std::string& message) = 0;
};

}  // namespace polarstack::cluster
