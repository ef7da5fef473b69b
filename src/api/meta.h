// Pieces shared by every polarstack kind: API group, conditions, object metadata rules.
#pragma once

#include <string>

#include "api/schema.h"

namespace polarstack::api {

inline constexpr const char* kGroup = "polarstack.io";
inline constexpr const char* kVersion = "v1";
inline constexpr const char* kApiVersion = "polarstack.io/v1";

// A Kubernetes-style condition; `reason` is a typed CamelCase word, never free text only.
struct Condition {
  static constexpr bool kSchemaStruct = true;
  std::string type;
  std::string status;  // True, False, Unknown
  std::string reason;
  std::string message;
  std::string lastTransitionTime;
  int64_t observedGeneration = 0;

  template <class V>
  void fields(V& v) {
    v.field("type", type, Rules("Condition type, e.g. Ready, Progressing, Degraded, Interrupted").require());
    v.field("status", status, Rules("True, False or Unknown").require().one_of({"True", "False", "Unknown"}));
    v.field("reason", reason, Rules("Typed CamelCase reason for the last transition"));
    v.field("message", message, Rules("Human-readable detail"));
    v.field("lastTransitionTime", lastTransitionTime, Rules("When status last changed").fmt("date-time"));
    v.field("observedGeneration", observedGeneration, Rules("metadata.generation the condition was set from").at_least(0));
  }
};

// Checks metadata of an object of one of our kinds: a name that is a DNS-1123 label of
// at most `max_name` characters (instance names are derived from it), labels and
// annotations as string maps. Appends problems to `errs`.
void check_metadata(const Json& metadata, size_t max_name, FieldErrors& errs);

}  // namespace polarstack::api
