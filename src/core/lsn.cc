#include "core/lsn.h"

#include <cstdio>

namespace polarstack::core {

std::optional<uint64_t> parse_lsn(const std::string& text) {
  unsigned hi = 0, lo = 0;
  char extra;
  if (std::sscanf(text.c_str(), "%X/%X%c", &hi, &lo, &extra) != 2) return std::nullopt;
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

std::string format_lsn(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

}  // namespace polarstack::core
