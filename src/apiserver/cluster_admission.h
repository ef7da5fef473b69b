// Admission of PolarDBClusters beyond their own fields: requested endpoint ports must
// not be another cluster's, and fields this release cannot change on a running cluster
// are refused with a clear message instead of being silently ignored.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "apiserver/store.h"

namespace polarstack::apiserver {

core::Status check_cluster_ports(Store& store, const std::string& ns, const core::Json& cluster);
// At creation: fields of the schema this release does not act on must be unset
// (api::ClusterSpec::check_new).
core::Status check_cluster_create(const core::Json& cluster);
// `current` and `next` are whole objects; called for spec writes only.
core::Status check_cluster_update(const core::Json& current, const core::Json& next);
// spec.primary, when set, names one of the instances spec.readers implies (<name>-0 ..
// <name>-<readers>): a switchover to it is planned whenever it changes.
core::Status check_cluster_primary(const core::Json& cluster);
// Where admission learns which PostgreSQL builds are installed (instance/engines.h),
// for spec.version: "15.<minor>" must be one of them. Unset: not checked.
void set_installed_engines(std::function<std::vector<std::string>()> list);
// Where admission learns whether CPU and memory limits can be enforced ("" if they can,
// else why not); spec.resources is refused with that reason. Unset: not checked.
void set_limits_support(std::function<std::string()> why_not);
// spec.resources: enforceable here, and a class the ConfigMap polarstack-instance-classes
// of the cluster's namespace defines.
core::Status check_cluster_resources(Store& store, const std::string& ns, const core::Json& cluster);
// The same against `classes` (the ConfigMap's data, from instance_classes), for a check
// inside a store transaction, where the store cannot be read again.
core::Status check_cluster_resources(const core::Json& classes, const std::string& ns, const core::Json& cluster);
core::Json instance_classes(Store& store, const std::string& ns);

}  // namespace polarstack::apiserver
