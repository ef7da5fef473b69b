#include "apiserver/discovery.h"

namespace polarstack::apiserver {

using core::Json;

namespace {
Json group_json(const Registry& reg, const std::string& group) {
  Json versions = Json::array();
  std::string first;
  for (const auto& gv : reg.group_versions()) {
    auto slash = gv.find('/');
    if (slash == std::string::npos || gv.substr(0, slash) != group) continue;
    std::string v = gv.substr(slash + 1);
    if (first.empty()) first = v;
    versions.push_back({{"groupVersion", gv}, {"version", v}});
  }
  if (versions.empty()) return nullptr;
  return {{"name", group}, {"versions", versions}, {"preferredVersion", {{"groupVersion", group + "/" + first}, {"version", first}}}};
}
}  // namespace

Json api_versions(const std::string& server_address) {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs", {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

Json api_group_list(const Registry& reg) {
  Json groups = Json::array();
  std::vector<std::string> seen;
  for (const auto& t : reg.all()) {
    if (t.group.empty() || std::find(seen.begin(), seen.end(), t.group) != seen.end()) continue;
    seen.push_back(t.group);
    groups.push_back(group_json(reg, t.group));
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

Json api_group(const Registry& reg, const std::string& group) {
  Json g = group_json(reg, group);
  if (g.is_null()) return g;
  g["kind"] = "APIGroup";
  g["apiVersion"] = "v1";
  return g;
}

Json api_resource_list(const Registry& reg, const std::string& gv) {
  Json resources = Json::array();
  for (const auto& t : reg.all()) {
    if (t.group_version() != gv) continue;
    Json r = {{"name", t.plural},
              {"singularName", t.singular},
              {"namespaced", t.namespaced},
              {"kind", t.kind},
              {"verbs", {"create", "delete", "get", "list", "patch", "update", "watch"}}};
    if (!t.short_names.empty()) r["shortNames"] = t.short_names;
    if (t.ours) r["categories"] = {"polarstack", "all"};
    resources.push_back(std::move(r));
    if (t.has_status) {
      resources.push_back({{"name", t.plural + "/status"}, {"singularName", ""}, {"namespaced", t.namespaced},
                           {"kind", t.kind}, {"verbs", {"get", "patch", "update"}}});
    }
  }
  if (resources.empty()) return nullptr;
  return {{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", gv}, {"resources", resources}};
}

Json server_version() {
  return {{"major", "1"}, {"minor", "32"}, {"gitVersion", "v1.32.0+polarstack"}, {"gitCommit", ""},
          {"gitTreeState", "clean"}, {"buildDate", ""}, {"goVersion", ""}, {"compiler", "g++"},
          {"platform", "linux/amd64"}};
}

}  // namespace polarstack::apiserver
