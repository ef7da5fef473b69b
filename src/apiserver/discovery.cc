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
    if (t.ours()) r["categories"] = {"polarstack", "all"};
    resources.push_back(std::move(r));
    if (t.has_status) {
      resources.push_back({{"name", t.plural + "/status"}, {"singularName", ""}, {"namespaced", t.namespaced},
                           {"kind", t.kind}, {"verbs", {"get", "patch", "update"}}});
    }
    if (t.scale) {
      resources.push_back({{"name", t.plural + "/scale"}, {"singularName", ""}, {"namespaced", t.namespaced},
                           {"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"},
                           {"verbs", {"get", "patch", "update"}}});
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

namespace {
std::string openapi_path(const std::string& gv) { return gv.find('/') == std::string::npos ? "api/" + gv : "apis/" + gv; }

std::string schema_name(const ResourceType& t) {
  // io.polarstack.v1.PolarDBCluster, io.k8s.api.core.v1.ConfigMap
  if (t.group.empty()) return "io.k8s.api.core." + t.version + "." + t.kind;
  std::string reversed, g = t.group;
  while (!g.empty()) {
    auto dot = g.rfind('.');
    reversed += (reversed.empty() ? "" : ".") + (dot == std::string::npos ? g : g.substr(dot + 1));
    g = dot == std::string::npos ? "" : g.substr(0, dot);
  }
  return reversed + "." + t.version + "." + t.kind;
}
}  // namespace

Json openapi_v3_document(const Registry& reg, const std::string& gv) {
  Json schemas = Json::object();
  Json paths = Json::object();
  for (const auto& t : reg.all()) {
    if (t.group_version() != gv) continue;
    // One path per kind, so that tools can map a resource (GVR) to its kind and schema.
    std::string base = "/" + openapi_path(gv) + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural + "/{name}";
    Json gvk = {{"group", t.group}, {"kind", t.kind}, {"version", t.version}};
    Json ref = {{"$ref", "#/components/schemas/" + schema_name(t)}};
    Json ok = {{"200", {{"description", "OK"}, {"content", {{"application/json", {{"schema", ref}}}}}}}};
    // fieldValidation tells kubectl that the server validates fields itself (strictly).
    Json params = Json::array({{{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}}});
    Json op = {{"x-kubernetes-group-version-kind", gvk}, {"parameters", params}, {"responses", ok}};
    Json get = op, put = op, patch = op;
    get["x-kubernetes-action"] = "get";
    put["x-kubernetes-action"] = "put";
    patch["x-kubernetes-action"] = "patch";
    paths[base] = {{"get", get}, {"put", put}, {"patch", patch}};
    Json post = op;
    post["x-kubernetes-action"] = "post";
    paths[base.substr(0, base.size() - 7)] = {{"post", post}};
    Json s = t.schema ? Json::parse(t.schema().dump())
                    : Json{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
    s["x-kubernetes-group-version-kind"] = {{{"group", t.group}, {"kind", t.kind}, {"version", t.version}}};
    schemas[schema_name(t)] = std::move(s);
  }
  if (schemas.empty()) return nullptr;
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "polarstack"}, {"version", gv}}},
          {"paths", std::move(paths)},
          {"components", {{"schemas", std::move(schemas)}}}};
}

Json openapi_v3_index(const Registry& reg) {
  Json paths = Json::object();
  for (const auto& gv : reg.group_versions()) {
    std::string hash = std::to_string(std::hash<std::string>{}(openapi_v3_document(reg, gv).dump()));
    paths[openapi_path(gv)] = {{"serverRelativeURL", "/openapi/v3/" + openapi_path(gv) + "?hash=" + hash}};
  }
  return {{"paths", std::move(paths)}};
}

}  // namespace polarstack::apiserver
