// Instance classes (spec.resources): CPU and memory per instance, explicit or named.
// Named classes come from the ConfigMap polarstack-instance-classes in the cluster's
// namespace, one key per class: "polar.pg.x2.medium": "cpu=2 memory=4Gi". The memory
// sizes PostgreSQL's memory parameters unless spec.parameters sets them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace polarstack::api {

inline constexpr const char* kClassesConfigMap = "polarstack-instance-classes";

// "500m" -> 500, "2" -> 2000 (millicores); nullopt if not a CPU quantity.
std::optional<int64_t> cpu_millis(const std::string& quantity);
// "512Mi" -> 536870912, "1G" -> 1e9 (bytes); nullopt if not a quantity.
std::optional<int64_t> memory_bytes(const std::string& quantity);

struct InstanceClass {
  std::string cpu, memory;  // quantities
};
// "cpu=2 memory=4Gi" -> {2, 4Gi}; an error message instead when it is not that.
std::optional<InstanceClass> parse_class(const std::string& text, std::string* why);

// The classes the server creates when there are none (the seed's general-purpose shapes).
std::map<std::string, std::string> default_classes();

// PostgreSQL's memory parameters for an instance of `memory` bytes: shared_buffers 25%,
// effective_cache_size 75%, maintenance_work_mem 1/16 (at most 2GB), work_mem 1/64
// (at least 4MB); then `user` (spec.parameters) on top, which wins.
std::map<std::string, std::string> effective_parameters(const std::map<std::string, std::string>& user,
                                                        std::optional<int64_t> memory);

}  // namespace polarstack::api
