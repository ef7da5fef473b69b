#include "apiserver/registry.h"

#include <algorithm>

namespace polarstack::apiserver {

Registry::Registry() {
  using C = api::PrinterColumn;
  const C age{"Age", "date", ".metadata.creationTimestamp", "Time since creation", 0};
  auto core = [](std::string group, std::string kind, std::string plural, std::vector<std::string> short_names,
                 bool namespaced, bool has_status, std::vector<C> columns) {
    std::string singular = plural.substr(0, plural.size() - 1);
    return ResourceType(api::KindInfo{std::move(group), "v1", std::move(kind), std::move(plural), std::move(singular),
                                      std::move(short_names), namespaced, has_status, std::move(columns)});
  };
  types_ = {
      core("", "Namespace", "namespaces", {"ns"}, false, true, {age}),
      core("", "Secret", "secrets", {}, true, false, {{"Type", "string", ".type", "Secret type", 0}, age}),
      core("", "ConfigMap", "configmaps", {"cm"}, true, false, {age}),
      core("", "Event", "events", {"ev"}, true, false,
           {{"Type", "string", ".type", "Normal or Warning", 0},
            {"Reason", "string", ".reason", "Typed reason", 0},
            {"Object", "string", ".involvedObject.name", "Object the event is about", 0},
            {"Message", "string", ".message", "What happened", 0},
            {"Last Seen", "date", ".lastTimestamp", "Last occurrence", 0}}),
      core("", "Pod", "pods", {"po"}, true, true, {{"Status", "string", ".status.phase", "Pod phase", 0}, age}),
      core("", "Service", "services", {"svc"}, true, true, {{"Type", "string", ".spec.type", "Service type", 0}, age}),
      core("coordination.k8s.io", "Lease", "leases", {}, true, false,
           {{"Holder", "string", ".spec.holderIdentity", "Current holder", 0}, age}),
  };
  for (const auto& k : api::polarstack_kinds()) types_.emplace_back(k);
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
