#include "apiserver/cluster_admission.h"

#include "api/cluster.h"
#include "api/instance_class.h"

namespace polarstack::apiserver {

using core::Json;

namespace {
core::Status invalid(const Json& c, std::string field, std::string message) {
  return core::fail(core::Error::invalid("PolarDBCluster \"" + core::string_at(c, "metadata.name") + "\" is invalid",
                                         {{std::move(field), std::move(message)}}));
}

int port_at(const Json& obj, const std::string& path) {
  const Json* p = core::find_path(obj, path);
  if (p && p->is_number_integer()) return p->get<int>();
  if (p && p->is_string()) {  // status.endpoints: "127.0.0.1:port"
    auto s = p->get<std::string>();
    auto colon = s.rfind(':');
    if (colon != std::string::npos) return std::atoi(s.c_str() + colon + 1);
  }
  return 0;
}
}  // namespace

core::Status check_cluster_ports(Store& store, const std::string& ns, const Json& cluster) {
  std::string self = ns + "/" + core::string_at(cluster, "metadata.name");
  for (const char* f : {"readWritePort", "readOnlyPort"}) {
    int want = port_at(cluster, std::string("spec.endpoints.") + f);
    if (want == 0) continue;
    int64_t rev = 0;
    for (const auto& [key, obj] : store.list("polarstack.io/polardbclusters/", &rev)) {
      auto other = core::parse_json(*obj.data);
      if (!other) continue;
      std::string who = core::string_at(*other, "metadata.namespace") + "/" + core::string_at(*other, "metadata.name");
      if (who == self) continue;
      for (const char* path : {"spec.endpoints.readWritePort", "spec.endpoints.readOnlyPort", "status.endpoints.readWrite",
                               "status.endpoints.readOnly"}) {
        if (port_at(*other, path) == want) {
          return invalid(cluster, std::string("spec.endpoints.") + f,
                         "port " + std::to_string(want) + " is already used by PolarDBCluster " + who);
        }
      }
    }
  }
  return {};
}

namespace {
std::function<std::vector<std::string>()> installed_engines;

core::Status check_version_installed(const Json& cluster) {
  std::string v = core::string_at(cluster, "spec.version");
  if (v.empty() || v == "15" || !installed_engines) return {};
  auto all = installed_engines();
  std::string list;
  for (const auto& e : all) {
    if (e == v) return {};
    list += (list.empty() ? "" : ", ") + e;
  }
  return invalid(cluster, "spec.version", "PostgreSQL " + v + " is not installed (installed: " +
                                              (list.empty() ? "none" : list) + "; add it with scripts/install-engine.sh " +
                                              v + ", see polarctl engines)");
}
}  // namespace

void set_installed_engines(std::function<std::vector<std::string>()> list) { installed_engines = std::move(list); }

namespace {
std::function<std::string()> limits_unsupported;
}  // namespace

void set_limits_support(std::function<std::string()> why_not) { limits_unsupported = std::move(why_not); }

Json instance_classes(Store& store, const std::string& ns) {
  auto stored = store.get("core/configmaps/" + ns + "/" + api::kClassesConfigMap);
  if (!stored) return Json::object();
  auto cm = core::parse_json(*stored->data);
  return cm ? cm->value("data", Json::object()) : Json::object();
}

core::Status check_cluster_resources(Store& store, const std::string& ns, const Json& cluster) {
  return check_cluster_resources(instance_classes(store, ns), ns, cluster);
}

core::Status check_cluster_resources(const Json& data, const std::string& ns, const Json& cluster) {
  const Json* r = core::find_path(cluster, "spec.resources");
  if (!r || !r->is_object()) return {};
  std::string klass = r->value("class", ""), cpu = r->value("cpu", ""), memory = r->value("memory", "");
  if (klass.empty() && cpu.empty() && memory.empty()) return {};
  if (limits_unsupported) {
    if (std::string why = limits_unsupported(); !why.empty()) {
      return invalid(cluster, "spec.resources", "cannot be enforced here: " + why + " (leave spec.resources unset)");
    }
  }
  if (klass.empty()) return {};
  if (!data.contains(klass)) {
    std::string known;
    for (const auto& [k, v] : data.items()) known += (known.empty() ? "" : ", ") + k;
    return invalid(cluster, "spec.resources.class", "no instance class \"" + klass + "\" in ConfigMap " + ns + "/" +
                                                        api::kClassesConfigMap + " (classes: " + (known.empty() ? "none" : known) + ")");
  }
  std::string why;
  if (!data[klass].is_string() || !api::parse_class(data[klass].get<std::string>(), &why)) {
    return invalid(cluster, "spec.resources.class", "instance class \"" + klass + "\" is malformed: " + why);
  }
  return {};
}

core::Status check_cluster_create(const Json& cluster) {
  if (auto st = check_version_installed(cluster); !st) return st;
  auto spec = api::decode<api::ClusterSpec>(cluster.value("spec", Json::object()), "spec", "spec");
  if (!spec) return {};  // admission has said what is wrong with it
  api::FieldErrors errs;
  spec->check_new("spec", errs);
  if (errs.empty()) return {};
  return core::fail(core::Error::invalid("PolarDBCluster \"" + core::string_at(cluster, "metadata.name") + "\" is invalid",
                                         std::move(errs)));
}

core::Status check_cluster_primary(const Json& cluster) {
  std::string primary = core::string_at(cluster, "spec.primary");
  if (primary.empty()) return {};
  std::string name = core::string_at(cluster, "metadata.name");
  const Json* r = core::find_path(cluster, "spec.readers");
  int readers = r && r->is_number_integer() ? r->get<int>() : 0;
  std::string range = name + "-0 .. " + name + "-" + std::to_string(readers);
  std::string prefix = name + "-", rest = primary.rfind(prefix, 0) == 0 ? primary.substr(prefix.size()) : "";
  bool number = !rest.empty() && rest.size() <= 3 && rest.find_first_not_of("0123456789") == std::string::npos &&
                (rest == "0" || rest[0] != '0');
  if (!number || std::stoi(rest) > readers) {
    return invalid(cluster, "spec.primary", "must name an instance of this cluster with spec.readers " +
                                                std::to_string(readers) + " (" + range + "), got \"" + primary + "\"");
  }
  return {};
}

core::Status check_cluster_update(const Json& current, const Json& next) {
  if (!core::string_at(current, "metadata.deletionTimestamp").empty()) return {};
  // The transition rules are the API's (api::ClusterSpec::check_update): shared with a
  // Kubernetes admission webhook.
  if (core::string_at(current, "spec.version") != core::string_at(next, "spec.version")) {
    if (auto st = check_version_installed(next); !st) return st;
  }
  auto old_spec = api::decode<api::ClusterSpec>(current.value("spec", Json::object()), "spec", "spec");
  auto new_spec = api::decode<api::ClusterSpec>(next.value("spec", Json::object()), "spec", "spec");
  if (old_spec && new_spec) {
    api::FieldErrors errs;
    new_spec->check_update(*old_spec, "spec", errs);
    if (!errs.empty()) {
      return core::fail(core::Error::invalid("PolarDBCluster \"" + core::string_at(next, "metadata.name") + "\" is invalid",
                                             std::move(errs)));
    }
  }
  return check_cluster_primary(next);
}

}  // namespace polarstack::apiserver
