// What `polarctl wait --for=...` waits for, as pure functions (table-tested without a
// server): kubectl's forms condition=C[=value], delete and jsonpath={.a.b}[=value].
#pragma once

#include <chrono>
#include <string>

#include "core/error.h"
#include "core/json.h"
#include "kube/client.h"

namespace polarstack::polarctl {

struct WaitSpec {
  enum Kind { kCondition, kDelete, kJsonPath } kind = kCondition;
  std::string condition;         // kCondition: the type, e.g. Ready
  std::string value = "True";    // kCondition: the status wanted; kJsonPath: the value (empty: present)
  std::string path;              // kJsonPath: dotted, without the leading dot ("status.phase")
};

// Parses the value of --for. Errors name the flag and say what is accepted.
core::Result<WaitSpec> parse_wait_for(const std::string& text);
// Go-style durations as kubectl takes them: "90s", "5m", "1h30m", "500ms"; a bare number is seconds.
core::Result<std::chrono::milliseconds> parse_duration(const std::string& text);
// True when `object` satisfies `spec` (never for kDelete: an existing object is not deleted).
// As kubectl does, a condition computed for an older metadata.generation (its own
// observedGeneration, else status.observedGeneration) does not count.
bool wait_met(const WaitSpec& spec, const core::Json& object);
// "polardbcluster.polarstack.io", "namespace": how kubectl names a resource type in output.
std::string lower_kind(const kube::ResourceRef& ref);

}  // namespace polarstack::polarctl
