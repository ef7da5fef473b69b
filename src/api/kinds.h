// The kinds polarstack defines, described once for the API server (admission, discovery,
// tables), the CRD generator and the clients.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/schema.h"

namespace polarstack::api {

struct PrinterColumn {
  std::string name;
  std::string type;  // string, integer, date, boolean
  std::string json_path;  // ".status.phase"
  std::string description;
  int priority = 0;  // 1: only with -o wide
};

// The scale subresource (autoscaling/v1 Scale): which fields `kubectl scale` and an
// autoscaler read and write. Paths are JSONPaths as in a CRD (".spec.readers").
struct ScaleInfo {
  std::string spec_replicas_path;
  std::string status_replicas_path;
  std::string label_selector_path;
};

struct KindInfo {
  std::string group;
  std::string version;
  std::string kind;
  std::string plural;
  std::string singular;
  std::vector<std::string> short_names;
  bool namespaced = true;
  bool has_status = true;
  std::vector<PrinterColumn> columns;
  // The OpenAPI v3 schema of the whole object.
  OrderedJson (*schema)() = nullptr;
  // Admission: checks `object` (metadata, spec and status), fills defaults in place.
  core::Status (*admit)(Json& object) = nullptr;
  // Served as <plural>/scale when set.
  std::optional<ScaleInfo> scale;
};

const std::vector<KindInfo>& polarstack_kinds();
// Finds one of our kinds by kind, plural, singular or short name (case-insensitive); nullptr if none.
const KindInfo* find_kind(const std::string& any_name);

}  // namespace polarstack::api
