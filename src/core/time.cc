#include "core/time.h"

#include <ctime>

namespace polarstack::core {

namespace {
std::string format(std::chrono::system_clock::time_point tp, bool micros) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (micros) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(tp - secs).count();
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
    out += frac;
  }
  return out + "Z";
}
}  // namespace

std::string rfc3339_now() { return format(std::chrono::system_clock::now(), false); }
std::string rfc3339_now_micros() { return format(std::chrono::system_clock::now(), true); }

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string human_duration(std::chrono::system_clock::duration d) {
  long long s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  long long m = s / 60;
  if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (m < 180) return std::to_string(m) + "m";
  long long h = m / 60;
  if (h < 48) return std::to_string(h) + "h";
  return std::to_string(h / 24) + "d";
}

}  // namespace polarstack::core
