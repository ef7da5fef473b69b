#include "kube/cluster_api.h"

#include "core/base64.h"
#include "core/log.h"
#include "core/time.h"

namespace polarstack::kube {

core::Result<Json> KubeClusterApi::get_cluster(const std::string& ns, const std::string& name) {
  return client_.get(clusters_ref(), ns, name);
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

}  // namespace polarstack::kube
