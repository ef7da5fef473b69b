// Wall-clock timestamps in the formats Kubernetes uses, and human durations.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace polarstack::core {

std::string rfc3339_now();         // 2026-11-21T06:49:34Z (second precision, as metadata uses)
std::string rfc3339_now_micros();  // 2026-11-21T06:49:34.123456Z (MicroTime, logs)
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& s);
// "5s", "3m", "2h", "4d" — the style of kubectl's AGE column.
std::string human_duration(std::chrono::system_clock::duration d);

}  // namespace polarstack::core
