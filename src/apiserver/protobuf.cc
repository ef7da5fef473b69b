#include "apiserver/protobuf.h"

#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>

#include "apiserver/proto/k8s_core.pb.h"
#include "core/base64.h"

namespace polarstack::apiserver {

using core::Code;
using core::fail;
using core::Json;
namespace pb = ::polarstack::k8s;

namespace {

constexpr std::string_view kMagic("k8s\0", 4);

// The first field, anywhere in `m`, that our definitions do not cover ("" if none).
std::string unknown_field(const google::protobuf::Message& m, const std::string& path) {
  const auto* refl = m.GetReflection();
  const auto& unknown = refl->GetUnknownFields(m);
  if (unknown.field_count() > 0) {
    return path + " field number " + std::to_string(unknown.field(0).number());
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_map()) continue;  // map entries are key/value scalars here
    std::string sub = path + "." + f->json_name();
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(m, f); ++i) {
        std::string u = unknown_field(refl->GetRepeatedMessage(m, f, i), sub + "[" + std::to_string(i) + "]");
        if (!u.empty()) return u;
      }
    } else {
      std::string u = unknown_field(refl->GetMessage(m, f), sub);
      if (!u.empty()) return u;
    }
  }
  return "";
}

std::string rfc3339(const pb::Time& t) {
  char buf[32];
  std::time_t s = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  gmtime_r(&s, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

template <class Map>
Json string_map(const Map& m, bool base64) {
  Json out = Json::object();
  for (const auto& [k, v] : m) out[k] = base64 ? core::base64_encode(v) : v;
  return out;
}

Json metadata_json(const pb::ObjectMeta& m) {
  Json j = Json::object();
  auto set = [&](const char* k, bool has, const std::string& v) {
    if (has && !v.empty()) j[k] = v;
  };
  set("name", m.has_name(), m.name());
  set("generateName", m.has_generatename(), m.generatename());
  set("namespace", m.has_namespace_(), m.namespace_());
  set("uid", m.has_uid(), m.uid());
  set("resourceVersion", m.has_resourceversion(), m.resourceversion());
  if (m.has_generation() && m.generation() != 0) j["generation"] = m.generation();
  // A zero Time is what Go encodes for "unset"; the server sets creationTimestamp itself.
  if (m.has_creationtimestamp() && m.creationtimestamp().seconds() != 0) j["creationTimestamp"] = rfc3339(m.creationtimestamp());
  if (m.has_deletiontimestamp() && m.deletiontimestamp().seconds() != 0) j["deletionTimestamp"] = rfc3339(m.deletiontimestamp());
  if (m.has_deletiongraceperiodseconds()) j["deletionGracePeriodSeconds"] = m.deletiongraceperiodseconds();
  if (!m.labels().empty()) j["labels"] = string_map(m.labels(), false);
  if (!m.annotations().empty()) j["annotations"] = string_map(m.annotations(), false);
  if (m.finalizers_size() > 0) j["finalizers"] = Json(std::vector<std::string>(m.finalizers().begin(), m.finalizers().end()));
  if (m.ownerreferences_size() > 0) {
    Json refs = Json::array();
    for (const auto& r : m.ownerreferences()) {
      Json o = {{"apiVersion", r.apiversion()}, {"kind", r.kind()}, {"name", r.name()}, {"uid", r.uid()}};
      if (r.has_controller()) o["controller"] = r.controller();
      if (r.has_blockownerdeletion()) o["blockOwnerDeletion"] = r.blockownerdeletion();
      refs.push_back(std::move(o));
    }
    j["ownerReferences"] = std::move(refs);
  }
  return j;
}

// Parses `raw` into `msg` and checks that nothing in it went unread.
core::Status parse_exactly(google::protobuf::Message& msg, const std::string& raw, const std::string& kind) {
  if (!msg.ParseFromString(raw)) return fail(Code::kBadRequest, "the protobuf body is not a valid " + kind + " message");
  std::string u = unknown_field(msg, kind);
  if (!u.empty()) {
    return fail(Code::kUnsupported, "the protobuf body sets " + u +
                                        ", which polarstack's API server does not decode; send the object as JSON "
                                        "(kubectl apply -f FILE, or kubectl create -f FILE)");
  }
  return {};
}

}  // namespace

bool is_protobuf_media_type(std::string_view content_type) {
  return content_type.find("application/vnd.kubernetes.protobuf") != std::string_view::npos;
}

core::Result<Json> decode_protobuf_object(std::string_view body, const ResourceType& rt) {
  if (rt.kind != "Namespace" && rt.kind != "ConfigMap" && rt.kind != "Secret") {
    return fail(Code::kUnsupported, "protobuf bodies are accepted for Namespace, ConfigMap and Secret only, not " +
                                        rt.kind + "; send JSON (kubectl apply -f FILE)");
  }
  if (body.size() < kMagic.size() || body.substr(0, kMagic.size()) != kMagic) {
    return fail(Code::kBadRequest, "a protobuf body must start with the Kubernetes magic \"k8s\\0\"");
  }
  pb::Unknown env;
  if (auto st = parse_exactly(env, std::string(body.substr(kMagic.size())), "runtime.Unknown"); !st) return fail(st.error());
  if (!env.contentencoding().empty()) {
    return fail(Code::kUnsupported, "protobuf content encoding \"" + env.contentencoding() + "\" is not supported");
  }
  if (!env.contenttype().empty() && !is_protobuf_media_type(env.contenttype())) {
    return fail(Code::kUnsupported, "the envelope's content type \"" + env.contenttype() + "\" is not protobuf");
  }
  const std::string& api_version = env.typemeta().apiversion();
  const std::string& kind = env.typemeta().kind();
  if ((!api_version.empty() && api_version != rt.group_version()) || (!kind.empty() && kind != rt.kind)) {
    return fail(Code::kBadRequest, "the protobuf body holds " + (api_version.empty() ? "?" : api_version) + " " +
                                       (kind.empty() ? "?" : kind) + ", but the URL names " + rt.group_version() + " " + rt.kind);
  }
  Json obj = {{"apiVersion", rt.group_version()}, {"kind", rt.kind}};
  if (rt.kind == "Namespace") {
    pb::Namespace ns;
    if (auto st = parse_exactly(ns, env.raw(), "Namespace"); !st) return fail(st.error());
    obj["metadata"] = metadata_json(ns.metadata());
    if (ns.spec().finalizers_size() > 0) {
      obj["spec"] = {{"finalizers", std::vector<std::string>(ns.spec().finalizers().begin(), ns.spec().finalizers().end())}};
    }
  } else if (rt.kind == "ConfigMap") {
    pb::ConfigMap cm;
    if (auto st = parse_exactly(cm, env.raw(), "ConfigMap"); !st) return fail(st.error());
    obj["metadata"] = metadata_json(cm.metadata());
    if (!cm.data().empty()) obj["data"] = string_map(cm.data(), false);
    if (!cm.binarydata().empty()) obj["binaryData"] = string_map(cm.binarydata(), true);
    if (cm.has_immutable()) obj["immutable"] = cm.immutable();
  } else {
    pb::Secret s;
    if (auto st = parse_exactly(s, env.raw(), "Secret"); !st) return fail(st.error());
    obj["metadata"] = metadata_json(s.metadata());
    if (!s.data().empty()) obj["data"] = string_map(s.data(), true);
    if (!s.stringdata().empty()) obj["stringData"] = string_map(s.stringdata(), false);
    if (s.has_type() && !s.type().empty()) obj["type"] = s.type();
    if (s.has_immutable()) obj["immutable"] = s.immutable();
  }
  // proto2 strings are not checked for UTF-8; JSON must be.
  try {
    (void)obj.dump();
  } catch (const Json::exception&) {
    return fail(Code::kBadRequest, "a string in the protobuf " + rt.kind + " is not valid UTF-8 (binary values belong in "
                                   "binaryData or a Secret's data)");
  }
  return obj;
}

}  // namespace polarstack::apiserver
