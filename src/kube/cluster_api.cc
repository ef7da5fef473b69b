#include "kube/cluster_api.h"

#include "core/base64.h"
#include "core/files.h"
#include "core/log.h"
#include "core/time.h"
#include "kube/config.h"

namespace polarstack::kube {

core::Result<Json> KubeClusterApi::get_cluster(const std::string& ns, const std::string& name) {
  return client_.get(clusters_ref(), ns, name);
}

core::Result<Json> KubeClusterApi::get_config_map(const std::string& ns, const std::string& name) {
  static const ResourceRef configmaps{"", "v1", "configmaps", "ConfigMap", true};
  return client_.get(configmaps, ns, name);
}

core::Status KubeClusterApi::patch_cluster(const std::string& ns, const std::string& name, const Json& patch) {
  auto r = client_.patch(clusters_ref(), ns, name, patch);
  if (!r) return core::fail(r.error());
  return {};
}

core::Status KubeClusterApi::ensure_secret(const std::string& ns, const std::string& name,
                                          const std::map<std::string, std::string>& data) {
  Json d = Json::object();
  for (const auto& [k, v] : data) d[k] = core::base64_encode(v);
  Json secret = {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", name}, {"namespace", ns}}},
                 {"type", "Opaque"}, {"data", d}};
  auto r = client_.create(secrets_ref(), ns, secret);
  if (!r && r.error().code != core::Code::kAlreadyExists) return core::fail(r.error());
  return {};
}

core::Status KubeClusterApi::delete_secret(const std::string& ns, const std::string& name) {
  auto r = client_.remove(secrets_ref(), ns, name);
  if (!r && r.error().code != core::Code::kNotFound) return core::fail(r.error());
  return {};
}

core::Status KubeClusterApi::create_operation(const std::string& ns, const Json& object) {
  auto r = client_.create(operations_ref(), ns, object);
  if (!r) return core::fail(r.error());
  return {};
}

core::Status KubeClusterApi::patch_cluster_status(const std::string& ns, const std::string& name, const Json& patch) {
  auto r = client_.patch(clusters_ref(), ns, name, patch, PatchKind::kMerge, true);
  if (!r) return core::fail(r.error());
  return {};
}

core::Result<Json> KubeClusterApi::write_operation_status(const std::string& ns, const std::string& name,
                                                          const Json& status) {
  // No resourceVersion: the operator is the only writer of operation status, and a
  // concurrent spec change (a resume or cancel request) must not make it fail.
  Json body = {{"apiVersion", operations_ref().group_version()}, {"kind", operations_ref().kind},
               {"metadata", {{"name", name}, {"namespace", ns}}}, {"status", status}};
  return client_.request("PUT", operations_ref().path(ns, name) + "/status", body.dump());
}

core::Result<Json> KubeClusterApi::patch_operation(const std::string& ns, const std::string& name, const Json& patch) {
  return client_.patch(operations_ref(), ns, name, patch);
}

core::Status KubeClusterApi::delete_operation(const std::string& ns, const std::string& name) {
  auto r = client_.remove(operations_ref(), ns, name);
  if (!r && r.error().code != core::Code::kNotFound) return core::fail(r.error());
  return {};
}

void KubeClusterApi::record_event(const Json& involved, const std::string& type, const std::string& reason,
                                  const std::string& message) {
  std::string ns = core::string_at(involved, "metadata.namespace");
  std::string now = core::rfc3339_now();
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"generateName", core::string_at(involved, "metadata.name") + "."}, {"namespace", ns}}},
             {"involvedObject",
              {{"apiVersion", involved.value("apiVersion", "")},
               {"kind", involved.value("kind", "")},
               {"name", core::string_at(involved, "metadata.name")},
               {"namespace", ns},
               {"uid", core::string_at(involved, "metadata.uid")}}},
             {"type", type},
             {"reason", reason},
             {"message", message},
             {"count", 1},
             {"firstTimestamp", now},
             {"lastTimestamp", now},
             {"source", {{"component", component_}}},
             {"reportingComponent", component_}};
  if (auto r = client_.create(events_ref(), ns, ev); !r) {
    core::log_warn(component_, "cannot record event " + reason + ": " + r.error().message);
  }
}

core::Result<cluster::ClusterApi*> KubeconfigClusterApi::current() {
  std::lock_guard<std::mutex> lock(mu_);
  auto text = core::read_file(path_);
  if (text && (!api_ || *text != loaded_)) {
    auto cfg = load_kubeconfig(path_);
    if (cfg) {
      api_.reset();
      client_ = std::make_unique<Client>(*cfg);
      client_->set_keep_alive(keep_alive_);
      api_ = std::make_unique<KubeClusterApi>(*client_, component_);
      loaded_ = *text;
    }
  }
  if (!api_) return core::fail(core::Code::kUnavailable, "no usable kubeconfig at " + path_);
  return api_.get();
}

core::Result<Json> KubeconfigClusterApi::get_cluster(const std::string& ns, const std::string& name) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->get_cluster(ns, name);
}
core::Result<Json> KubeconfigClusterApi::get_config_map(const std::string& ns, const std::string& name) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->get_config_map(ns, name);
}
core::Status KubeconfigClusterApi::patch_cluster(const std::string& ns, const std::string& name, const Json& p) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->patch_cluster(ns, name, p);
}
core::Status KubeconfigClusterApi::ensure_secret(const std::string& ns, const std::string& name,
                                                 const std::map<std::string, std::string>& data) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->ensure_secret(ns, name, data);
}
core::Status KubeconfigClusterApi::delete_secret(const std::string& ns, const std::string& name) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->delete_secret(ns, name);
}
core::Status KubeconfigClusterApi::create_operation(const std::string& ns, const Json& object) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->create_operation(ns, object);
}
core::Status KubeconfigClusterApi::patch_cluster_status(const std::string& ns, const std::string& name, const Json& p) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->patch_cluster_status(ns, name, p);
}
core::Result<Json> KubeconfigClusterApi::write_operation_status(const std::string& ns, const std::string& name,
                                                               const Json& status) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->write_operation_status(ns, name, status);
}
core::Result<Json> KubeconfigClusterApi::patch_operation(const std::string& ns, const std::string& name, const Json& p) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->patch_operation(ns, name, p);
}
core::Status KubeconfigClusterApi::delete_operation(const std::string& ns, const std::string& name) {
  auto a = current();
  if (!a) return std::unexpected(a.error());
  return (*a)->delete_operation(ns, name);
}
void KubeconfigClusterApi::record_event(const Json& involved, const std::string& type, const std::string& reason,
                                        const std::string& message) {
  if (auto a = current()) (*a)->record_event(involved, type, reason, message);
}

}  // namespace polarstack::kube
