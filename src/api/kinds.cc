#include "api/kinds.h"

#include <algorithm>
#include <cctype>

#include "api/cluster.h"
#include "api/operation.h"

namespace polarstack::api {
namespace {

template <class Spec, class Status>
OrderedJson object_schema() {
  OrderedJson s;
  s["type"] = "object";
  OrderedJson props;
  props["apiVersion"] = {{"type", "string"}};
  props["kind"] = {{"type", "string"}};
  props["metadata"] = {{"type", "object"}};
  OrderedJson spec = SchemaWriter::struct_schema<Spec>();
  OrderedJson status = SchemaWriter::struct_schema<Status>();
  props["spec"] = std::move(spec);
  props["status"] = std::move(status);
  s["properties"] = std::move(props);
  s["required"] = {"spec"};
  return s;
}

// Strict decode of spec and status, metadata checks, then the defaulted spec and status
// are written back. Every problem is reported at once.
template <class Spec, class Status>
core::Status admit_object(Json& object, const char* kind, size_t max_name) {
  FieldErrors errs;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& k = it.key();
    if (k != "apiVersion" && k != "kind" && k != "metadata" && k != "spec" && k != "status") {
      errs.push_back({k, "unknown field"});
    }
  }
  check_metadata(object.value("metadata", Json::object()), max_name, errs);
  Spec spec{};
  Status status{};
  if (!object.contains("spec") || object["spec"].is_null()) {
    errs.push_back({"spec", "required value"});
  } else {
    Decoder::decode_value(object["spec"], "spec", spec, Rules(), errs);
  }
  if (object.contains("status") && !object["status"].is_null()) {
    Decoder::decode_value(object["status"], "status", status, Rules(), errs);
  }
  if (!errs.empty()) {
    std::string name = core::string_at(object, "metadata.name");
    return core::fail(core::Error::invalid(std::string(kind) + " \"" + name + "\" is invalid", std::move(errs)));
  }
  object["spec"] = encode(spec);
  if (object.contains("status") && !object["status"].is_null()) object["status"] = encode(status);
  return {};
}

core::Status admit_cluster(Json& o) { return admit_object<ClusterSpec, ClusterStatus>(o, "PolarDBCluster", kMaxClusterName); }
core::Status admit_operation(Json& o) { return admit_object<OperationSpec, OperationStatus>(o, "PolarDBOperation", 63); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

const std::vector<KindInfo>& polarstack_kinds() {
  static const std::vector<KindInfo> kinds = {
      KindInfo{kGroup, kVersion, "PolarDBCluster", "polardbclusters", "polardbcluster", {"pdb", "pc"}, true, true,
               {
                   {"Version", "string", ".spec.version", "PostgreSQL version (15: the system build)", 0},
                   {"Readers", "integer", ".spec.readers", "Desired read-only instances", 0},
                   {"Ready", "integer", ".status.readyInstances", "Instances ready in their role", 0},
                   {"Phase", "string", ".status.phase", "Lifecycle phase", 0},
                   {"Primary", "string", ".status.currentPrimary", "Current primary instance", 0},
                   {"Operation", "string", ".status.operation.name", "Operation in progress", 1},
                   {"RW", "string", ".status.endpoints.readWrite", "Read-write endpoint", 1},
                   {"RO", "string", ".status.endpoints.readOnly", "Read-only endpoint", 1},
                   {"Age", "date", ".metadata.creationTimestamp", "Time since creation", 0},
               },
               &object_schema<ClusterSpec, ClusterStatus>, &admit_cluster,
               ScaleInfo{".spec.readers", ".status.readyReaders", ".status.selector"}},
      KindInfo{kGroup, kVersion, "PolarDBOperation", "polardboperations", "polardboperation", {"pdbop", "op"}, true,
               true,
               {
                   {"Cluster", "string", ".spec.clusterRef", "Target cluster", 0},
                   {"Type", "string", ".spec.type", "Operation type", 0},
                   {"Phase", "string", ".status.phase", "Lifecycle phase", 0},
                   {"Progress", "string", ".status.progress", "Steps done / steps, current step", 0},
                   {"Reason", "string", ".status.reason", "Reason of the phase", 1},
                   {"Age", "date", ".metadata.creationTimestamp", "Time since creation", 0},
               },
               &object_schema<OperationSpec, OperationStatus>, &admit_operation},
  };
  return kinds;
}

const KindInfo* find_kind(const std::string& any_name) {
  std::string n = lower(any_name);
  auto dot = n.find('.');
  if (dot != std::string::npos) {  // "polardbclusters.polarstack.io"
    if (n.substr(dot + 1) != kGroup) return nullptr;
    n = n.substr(0, dot);
  }
  for (const auto& k : polarstack_kinds()) {
    if (lower(k.kind) == n || k.plural == n || k.singular == n) return &k;
    for (const auto& s : k.short_names) if (s == n) return &k;
  }
  return nullptr;
}

}  // namespace polarstack::api
