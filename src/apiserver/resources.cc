#include "apiserver/resources.h"

#include "apiserver/cluster_admission.h"
#include "apiserver/operation_admission.h"
#include "core/files.h"
#include "core/time.h"

namespace polarstack::apiserver {

using core::Code;
using core::fail;
using core::Json;

namespace {

std::string resource_name(const ResourceType& rt) {
  return rt.group.empty() ? rt.plural : rt.plural + "." + rt.group;
}

core::Error not_found(const ResourceType& rt, const std::string& name) {
  return core::Error(Code::kNotFound, resource_name(rt) + " \"" + name + "\" not found");
}

core::Error conflict(const ResourceType& rt, const std::string& name, const std::string& why) {
  return core::Error(Code::kConflict, "Operation cannot be fulfilled on " + resource_name(rt) + " \"" + name + "\": " + why);
}

std::string new_uid() {
  std::string h = core::random_hex(16);
  h[12] = '4';                  // version 4
  h[16] = "89ab"[h[16] % 4];    // RFC 4122 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string random_suffix(size_t n) {
  static const char* kChars = "bcdfghjklmnpqrstvwxz2456789";
  std::string hex = core::random_hex(n);
  std::string out;
  for (size_t i = 0; i < n; ++i) out += kChars[static_cast<unsigned char>(hex[i * 2]) % 27];
  return out;
}

// Names of core kinds: DNS-1123 subdomain.
std::string check_subdomain(const std::string& n) {
  if (n.empty()) return "required value";
  if (n.size() > 253) return "must be no more than 253 characters";
  for (char c : n) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
          c == '.')) {
      return "must consist of lowercase letters, digits, '-' and '.', got \"" + n + "\"";
    }
  }
  return "";
}

core::Status admit(const ResourceType& rt, Json& obj) {
  if (rt.ours()) return rt.admit(obj);
  std::string why = check_subdomain(core::string_at(obj, "metadata.name"));
  if (!why.empty()) {
    return fail(core::Error::invalid(rt.kind + " \"" + core::string_at(obj, "metadata.name") + "\" is invalid",
                                     {{"metadata.name", why}}));
  }
  // Kubernetes' one default for the core kinds we store as sent: a Secret without a type
  // is Opaque (kubectl create secret generic leaves it to the server).
  if (rt.kind == "Secret" && (!obj.contains("type") || obj["type"].is_null() || obj["type"] == "")) obj["type"] = "Opaque";
  return {};
}

// What counts as "spec" for generation: the spec field when the kind has one, else
// everything but metadata and status.
Json spec_of(const Json& obj) {
  if (obj.contains("spec")) return obj["spec"];
  Json copy = obj;
  copy.erase("metadata");
  copy.erase("status");
  return copy;
}

bool same_ignoring_rv(Json a, Json b) {
  a["metadata"].erase("resourceVersion");
  b["metadata"].erase("resourceVersion");
  a["metadata"].erase("managedFields");
  b["metadata"].erase("managedFields");
  return a == b;
}

Json finalizers_of(const Json& obj) {
  const Json* f = core::find_path(obj, "metadata.finalizers");
  return f && f->is_array() ? *f : Json::array();
}

}  // namespace

std::string Resources::watch_prefix(const ResourceType& rt, const std::string& ns) {
  return rt.namespaced && !ns.empty() ? rt.key_prefix() + ns + "/" : rt.key_prefix();
}

core::Result<StoredObject> Resources::get(const ResourceType& rt, const std::string& ns, const std::string& name) {
  auto r = store_.get(rt.key(rt.namespaced ? ns : "", name));
  if (!r) return fail(not_found(rt, name));
  return r;
}

core::Result<ListResult> Resources::list(const ResourceType& rt, const std::string& ns, const LabelSelector& labels,
                                         const FieldSelector& fields) {
  ListResult out;
  for (auto& [key, obj] : store_.list(watch_prefix(rt, ns), &out.revision)) {
    if (!labels.matches(*obj.labels)) continue;
    if (!fields.empty()) {
      auto parsed = core::parse_json(*obj.data);
      if (!parsed || !fields.matches(*parsed)) continue;
    }
    out.items.push_back(std::move(obj));
  }
  return out;
}

core::Result<StoredObject> Resources::create(const ResourceType& rt, const std::string& ns, Json body) {
  if (!body.is_object()) return fail(Code::kBadRequest, "the request body must be a JSON object");
  if (body.contains("apiVersion") && body["apiVersion"] != rt.group_version()) {
    return fail(Code::kBadRequest, "the API version in the data (" + body["apiVersion"].dump() +
                                       ") does not match the expected API version (" + rt.group_version() + ")");
  }
  if (body.contains("kind") && body["kind"] != rt.kind) {
    return fail(Code::kBadRequest, "the kind in the data (" + body["kind"].dump() + ") does not match the expected kind (" +
                                       rt.kind + ")");
  }
  body["apiVersion"] = rt.group_version();
  body["kind"] = rt.kind;
  if (!body.contains("metadata") || !body["metadata"].is_object()) body["metadata"] = Json::object();
  Json& md = body["metadata"];
  if (rt.namespaced) {
    std::string body_ns = core::string_at(body, "metadata.namespace");
    if (!body_ns.empty() && body_ns != ns) {
      return fail(Code::kBadRequest, "the namespace of the provided object (" + body_ns +
                                         ") does not match the namespace sent on the request (" + ns + ")");
    }
    md["namespace"] = ns;
  } else {
    md.erase("namespace");
  }
  if (core::string_at(body, "metadata.name").empty() && md.contains("generateName") && md["generateName"].is_string()) {
    md["name"] = md["generateName"].get<std::string>() + random_suffix(5);
  }
  if (!core::string_at(body, "metadata.resourceVersion").empty()) {
    return fail(Code::kBadRequest, "metadata.resourceVersion must not be set on objects to be created");
  }
  if (rt.has_status) body.erase("status");  // status is written through /status only
  if (auto st = admit(rt, body); !st) return fail(st.error());
  if (rt.ours() && rt.kind == "PolarDBOperation") {
    if (auto st = check_operation_create(store_, ns, body); !st) return fail(st.error());
  }
  if (rt.ours() && rt.kind == "PolarDBCluster") {
    if (auto st = check_cluster_create(body); !st) return fail(st.error());
    if (auto st = check_cluster_ports(store_, ns, body); !st) return fail(st.error());
    if (auto st = check_cluster_resources(store_, ns, body); !st) return fail(st.error());
    if (auto st = check_cluster_primary(body); !st) return fail(st.error());
  }
  std::string name = core::string_at(body, "metadata.name");
  md["uid"] = new_uid();
  // Microseconds (RFC 3339 allows a fraction; Kubernetes clients parse it): creation
  // order stays visible for objects created within one second, e.g. queued operations.
  md["creationTimestamp"] = core::rfc3339_now_micros();
  md["generation"] = 1;
  md.erase("deletionTimestamp");
  md.erase("deletionGracePeriodSeconds");
  auto ev = store_.apply(rt.key(rt.namespaced ? ns : "", name), [&](const Json* current, int64_t) -> core::Result<Store::Change> {
    if (current) {
      return fail(Code::kAlreadyExists, resource_name(rt) + " \"" + name + "\" already exists");
    }
    return Store::Change{Store::Change::Kind::kPut, body};
  });
  if (!ev) return fail(ev.error());
  return ev->object;
}

core::Result<Store::Change> Resources::prepare_update(const ResourceType& rt, const std::string& ns,
                                                      const std::string& name, const Json& current, Json next,
                                                      bool status, const Json* classes) {
  if (!next.is_object()) return fail(Code::kBadRequest, "the request body must be a JSON object");
  std::string want_rv = core::string_at(next, "metadata.resourceVersion");
  if (!want_rv.empty() && want_rv != core::string_at(current, "metadata.resourceVersion")) {
    return fail(conflict(rt, name, "the object has been modified; please apply your changes to the latest version and try again"));
  }
  std::string want_uid = core::string_at(next, "metadata.uid");
  if (!want_uid.empty() && want_uid != core::string_at(current, "metadata.uid")) {
    return fail(conflict(rt, name, "Precondition failed: UID in precondition: " + want_uid +
                                       ", UID in object meta: " + core::string_at(current, "metadata.uid")));
  }
  Json result;
  if (status) {
    result = current;
    if (next.contains("status") && !next["status"].is_null()) result["status"] = next["status"];
    else result.erase("status");
  } else {
    result = std::move(next);
    if (!result.contains("metadata") || !result["metadata"].is_object()) result["metadata"] = Json::object();
    for (const char* k : {"uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds",
                          "resourceVersion"}) {
      if (current["metadata"].contains(k)) result["metadata"][k] = current["metadata"][k];
      else result["metadata"].erase(k);
    }
    result["metadata"]["name"] = name;
    if (rt.namespaced) result["metadata"]["namespace"] = ns;
    result["apiVersion"] = rt.group_version();
    result["kind"] = rt.kind;
    if (rt.has_status) {
      if (current.contains("status")) result["status"] = current["status"];
      else result.erase("status");
    }
  }
  if (auto st = admit(rt, result); !st) return fail(st.error());
  if (!status && rt.ours() && rt.kind == "PolarDBOperation") {
    if (auto st = check_operation_update(current, result); !st) return fail(st.error());
  }
  if (!status && rt.ours() && rt.kind == "PolarDBCluster") {
    if (auto st = check_cluster_update(current, result); !st) return fail(st.error());
    const Json* had = core::find_path(current, "spec.resources");
    const Json* has = core::find_path(result, "spec.resources");
    if ((had ? *had : Json()) != (has ? *has : Json()) && core::string_at(result, "metadata.deletionTimestamp").empty()) {
      // (inside the store's transaction: the classes were read before it)
      if (auto st = check_cluster_resources(classes ? *classes : Json::object(), ns, result); !st) return fail(st.error());
    }
  }
  bool deleting = current["metadata"].contains("deletionTimestamp");
  Json old_fin = finalizers_of(current), new_fin = finalizers_of(result);
  if (deleting) {
    for (const auto& f : new_fin) {
      if (std::find(old_fin.begin(), old_fin.end(), f) == old_fin.end()) {
        return fail(core::Error::invalid(rt.kind + " \"" + name + "\" is invalid",
                                         {{"metadata.finalizers", "no new finalizers can be added if the object is being deleted, found new finalizer " + f.dump()}}));
      }
    }
  }
  if (!status && spec_of(result) != spec_of(current)) {
    result["metadata"]["generation"] = current["metadata"].value("generation", 0) + 1;
  }
  if (same_ignoring_rv(result, current)) return Store::Change{Store::Change::Kind::kNone, {}};
  if (deleting && new_fin.empty()) return Store::Change{Store::Change::Kind::kDelete, result};
  return Store::Change{Store::Change::Kind::kPut, std::move(result)};
}

core::Result<StoredObject> Resources::update(const ResourceType& rt, const std::string& ns, const std::string& name,
                                             Json body, bool status) {
  if (!body.is_object()) return fail(Code::kBadRequest, "the request body must be a JSON object");
  std::string body_name = core::string_at(body, "metadata.name");
  if (!body_name.empty() && body_name != name) {
    return fail(Code::kBadRequest, "the name of the object (" + body_name + ") does not match the name on the URL (" + name + ")");
  }
  Json classes = rt.ours() && rt.kind == "PolarDBCluster" && !status ? instance_classes(store_, ns) : Json::object();
  auto ev = store_.apply(rt.key(rt.namespaced ? ns : "", name), [&](const Json* current, int64_t) -> core::Result<Store::Change> {
    if (!current) return fail(not_found(rt, name));
    return prepare_update(rt, ns, name, *current, body, status, &classes);
  });
  if (!ev) return fail(ev.error());
  return ev->object;
}

core::Result<StoredObject> Resources::patch(const ResourceType& rt, const std::string& ns, const std::string& name,
                                            PatchType type, const std::string& patch, bool status) {
  if (type == PatchType::kApply || (type == PatchType::kStrategic && rt.ours())) {
    return fail(Code::kUnsupported,
                std::string(type == PatchType::kApply ? "server-side apply" : "strategic merge patch") +
                    " is not supported for " + rt.kind +
                    ": accepted media types are application/merge-patch+json and application/json-patch+json");
  }
  auto parsed = core::parse_json(patch);
  if (!parsed) return fail(parsed.error());
  Json classes = rt.ours() && rt.kind == "PolarDBCluster" && !status ? instance_classes(store_, ns) : Json::object();
  auto ev = store_.apply(rt.key(rt.namespaced ? ns : "", name), [&](const Json* current, int64_t) -> core::Result<Store::Change> {
    if (!current) return fail(not_found(rt, name));
    Json next = *current;
    if (type == PatchType::kJson) {
      if (!parsed->is_array()) return fail(Code::kBadRequest, "a JSON patch must be an array of operations");
      try {
        next = current->patch(*parsed);
      } catch (const Json::exception& e) {
        return fail(Code::kInvalid, std::string("the JSON patch could not be applied: ") + e.what());
      }
    } else {
      if (!parsed->is_object()) return fail(Code::kBadRequest, "a merge patch must be a JSON object");
      next.merge_patch(*parsed);
    }
    return prepare_update(rt, ns, name, *current, std::move(next), status, &classes);
  });
  if (!ev) return fail(ev.error());
  return ev->object;
}

core::Result<StoredObject> Resources::remove(const ResourceType& rt, const std::string& ns, const std::string& name,
                                             const Json& options) {
  std::string pre_rv, pre_uid;
  if (options.is_object()) {
    pre_rv = core::string_at(options, "preconditions.resourceVersion");
    pre_uid = core::string_at(options, "preconditions.uid");
  }
  auto ev = store_.apply(rt.key(rt.namespaced ? ns : "", name), [&](const Json* current, int64_t) -> core::Result<Store::Change> {
    if (!current) return fail(not_found(rt, name));
    if (!pre_rv.empty() && pre_rv != core::string_at(*current, "metadata.resourceVersion")) {
      return fail(conflict(rt, name, "Precondition failed: ResourceVersion in precondition: " + pre_rv +
                                         ", ResourceVersion in object meta: " +
                                         core::string_at(*current, "metadata.resourceVersion")));
    }
    if (!pre_uid.empty() && pre_uid != core::string_at(*current, "metadata.uid")) {
      return fail(conflict(rt, name, "Precondition failed: UID in precondition: " + pre_uid +
                                         ", UID in object meta: " + core::string_at(*current, "metadata.uid")));
    }
    if (!finalizers_of(*current).empty()) {
      if ((*current)["metadata"].contains("deletionTimestamp")) return Store::Change{Store::Change::Kind::kNone, {}};
      Json next = *current;
      next["metadata"]["deletionTimestamp"] = core::rfc3339_now();
      next["metadata"]["deletionGracePeriodSeconds"] = 0;
      return Store::Change{Store::Change::Kind::kPut, std::move(next)};
    }
    return Store::Change{Store::Change::Kind::kDelete, {}};
  });
  if (!ev) return fail(ev.error());
  return ev->object;
}

}  // namespace polarstack::apiserver
