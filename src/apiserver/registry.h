// The resource types the embedded API server serves: a few core Kubernetes kinds stored
// as-is (Namespace, Secret, ConfigMap, Event, Pod, Service, Lease) and polarstack's own
// kinds, which are validated and defaulted on every write (admission).
#pragma once

#include <string>
#include <vector>

#include "api/kinds.h"

namespace polarstack::apiserver {

// A served kind: its KindInfo (core kinds have no schema and no admission; group "" is
// the core group) and where its objects are stored.
struct ResourceType : api::KindInfo {
  explicit ResourceType(api::KindInfo k) : api::KindInfo(std::move(k)) {}
  bool ours() const { return admit != nullptr; }  // a polarstack kind, admitted by src/api

  std::string group_version() const { return group.empty() ? version : group + "/" + version; }
  // Storage key prefix: "<group or core>/<plural>/".
  std::string key_prefix() const { return (group.empty() ? std::string("core") : group) + "/" + plural + "/"; }
  std::string key(const std::string& ns, const std::string& name) const { return key_prefix() + ns + "/" + name; }
};

class Registry {
 public:
  Registry();
  const ResourceType* find(const std::string& group, const std::string& version, const std::string& plural) const;
  const std::vector<ResourceType>& all() const { return types_; }
  // Group/versions served, core ("v1") first.
  std::vector<std::string> group_versions() const;

 private:
  std::vector<ResourceType> types_;
};

}  // namespace polarstack::apiserver
