// The scale subresource: an autoscaling/v1 Scale view of a kind's replica fields.
#include "apiserver/resources.h"

namespace polarstack::apiserver {

using core::Code;
using core::fail;
using core::Json;

namespace {

// ".spec.readers" -> "spec.readers"
std::string dotted(const std::string& json_path) { return json_path.starts_with(".") ? json_path.substr(1) : json_path; }

Json scale_of(const ResourceType& rt, const Json& obj) {
  const api::ScaleInfo& s = *rt.scale;
  auto integer = [&](const std::string& path) -> int64_t {
    const Json* v = core::find_path(obj, dotted(path));
    return v && v->is_number_integer() ? v->get<int64_t>() : 0;
  };
  Json meta = Json::object();
  for (const char* k : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (const Json* v = core::find_path(obj, std::string("metadata.") + k)) meta[k] = *v;
  }
  Json status = {{"replicas", integer(s.status_replicas_path)}};
  std::string selector = core::string_at(obj, dotted(s.label_selector_path));
  if (!selector.empty()) status["selector"] = selector;
  return {{"kind", "Scale"}, {"apiVersion", "autoscaling/v1"}, {"metadata", meta},
          {"spec", {{"replicas", integer(s.spec_replicas_path)}}}, {"status", status}};
}

void set_path(Json& obj, const std::string& path, Json value) {
  Json* cur = &obj;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) *cur = Json::object();
    if (dot == std::string::npos) {
      (*cur)[part] = std::move(value);
      return;
    }
    cur = &(*cur)[part];
    start = dot + 1;
  }
}

core::Error no_scale(const ResourceType& rt) {
  return core::Error(Code::kNotFound, rt.plural + " have no scale subresource");
}

}  // namespace

core::Result<Json> Resources::get_scale(const ResourceType& rt, const std::string& ns, const std::string& name) {
  if (!rt.scale) return fail(no_scale(rt));
  auto obj = get(rt, ns, name);
  if (!obj) return fail(obj.error());
  auto parsed = core::parse_json(*obj->data);
  if (!parsed) return fail(parsed.error());
  return scale_of(rt, *parsed);
}

core::Result<Json> Resources::update_scale(const ResourceType& rt, const std::string& ns, const std::string& name,
                                           std::optional<PatchType> patch, const std::string& body) {
  if (!rt.scale) return fail(no_scale(rt));
  if (patch && (*patch == PatchType::kApply || *patch == PatchType::kStrategic)) {
    return fail(Code::kUnsupported, "the scale subresource accepts application/merge-patch+json and "
                                    "application/json-patch+json patches");
  }
  auto parsed = core::parse_json(body);
  if (!parsed) return fail(parsed.error());
  const std::string spec_path = dotted(rt.scale->spec_replicas_path);
  auto ev = store_.apply(rt.key(rt.namespaced ? ns : "", name), [&](const Json* current, int64_t) -> core::Result<Store::Change> {
    if (!current) return fail(Code::kNotFound, rt.plural + "." + rt.group + " \"" + name + "\" not found");
    Json want = scale_of(rt, *current);
    if (!patch) {
      if (!parsed->is_object()) return fail(Code::kBadRequest, "the request body must be a Scale object");
      want = *parsed;
    } else if (*patch == PatchType::kJson) {
      if (!parsed->is_array()) return fail(Code::kBadRequest, "a JSON patch must be an array of operations");
      try {
        want = want.patch(*parsed);
      } catch (const Json::exception& e) {
        return fail(Code::kInvalid, std::string("the JSON patch could not be applied: ") + e.what());
      }
    } else {
      if (!parsed->is_object()) return fail(Code::kBadRequest, "a merge patch must be a JSON object");
      want.merge_patch(*parsed);
    }
    const Json* replicas = core::find_path(want, "spec.replicas");
    if (!replicas || !replicas->is_number_integer() || replicas->get<int64_t>() < 0) {
      return fail(core::Error::invalid("Scale \"" + name + "\" is invalid",
                                       {{"spec.replicas", "must be a non-negative integer"}}));
    }
    Json next = *current;
    next["metadata"].erase("resourceVersion");
    std::string rv = core::string_at(want, "metadata.resourceVersion");
    if (!rv.empty()) next["metadata"]["resourceVersion"] = rv;  // precondition, checked by prepare_update
    set_path(next, spec_path, *replicas);
    return prepare_update(rt, ns, name, *current, std::move(next), false);
  });
  if (!ev) return fail(ev.error());
  auto obj = core::parse_json(*ev->object.data);
  if (!obj) return fail(obj.error());
  return scale_of(rt, *obj);
}

}  // namespace polarstack::apiserver
