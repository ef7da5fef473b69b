#include "apiserver/registry.h"

#include <algorithm>

namespace polarstack::apiserver {

Registry::Registry() {
  using C = api::PrinterColumn;
  const C age{"Age", "date", ".metadata.creationTimestamp", "Time since creation", 0};
  types_ = {
      {"", "v1", "Namespace", "namespaces", "namespace", {"ns"}, false, true, {age}, nullptr},
      {"", "v1", "Secret", "secrets", "secret", {}, true, false, {{"Type", "string", ".type", "Secret type", 0}, age}, nullptr},
      {"", "v1", "ConfigMap", "configmaps", "configmap", {"cm"}, true, false, {age}, nullptr},
      {"", "v1", "Event", "events", "event", {"ev"}, true, false,
       {{"Type", "string", ".type", "Normal or Warning", 0},
        {"Reason", "string", ".reason", "Typed reason", 0},
        {"Object", "string", ".involvedObject.name", "Object the event is about", 0},
        {"Message", "string", ".message", "What happened", 0},
        {"Last Seen", "date", ".lastTimestamp", "Last occurrence", 0}},
       nullptr},
      {"", "v1", "Pod", "pods", "pod", {"po"}, true, true, {{"Status", "string", ".status.phase", "Pod phase", 0}, age}, nullptr},
      {"", "v1", "Service", "services", "service", {"svc"}, true, true, {{"Type", "string", ".spec.type", "Service type", 0}, age}, nullptr},
      {"coordination.k8s.io", "v1", "Lease", "leases", "lease", {}, true, false,
       {{"Holder", "string", ".spec.holderIdentity", "Current holder", 0}, age}, nullptr},
  };
  for (const auto& k : api::polarstack_kinds()) {
    std::vector<api::PrinterColumn> cols = k.columns;
    types_.push_back({k.group, k.version, k.kind, k.plural, k.singular, k.short_names, k.namespaced, k.has_status,
                      std::move(cols), &k});
  }
}

const ResourceType* Registry::find(const std::string& group, const std::string& version,
                                   const std::string& plural) const {
  for (const auto& t : types_) {
    if (t.group == group && t.version == version && t.plural == plural) return &t;
  }
  return nullptr;
}

std::vector<std::string> Registry::group_versions() const {
  std::vector<std::string> out;
  for (const auto& t : types_) {
    std::string gv = t.group_version();
    if (std::find(out.begin(), out.end(), gv) == out.end()) out.push_back(gv);
  }
  return out;
}

}  // namespace polarstack::apiserver
