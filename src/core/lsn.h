// PostgreSQL WAL positions: "16/B374D848" <-> a 64-bit byte position. Pure; shared by
// the engine adapter, the cluster controller and the HA decision.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace polarstack::core {

std::optional<uint64_t> parse_lsn(const std::string& text);
std::string format_lsn(uint64_t lsn);

}  // namespace polarstack::core
