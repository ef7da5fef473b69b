#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <mutex>

#include "core/time.h"

namespace polarstack::core {
namespace {
// POLARSTACK_LOG_LEVEL=debug|info|warn|error (default info).
int initial_level() {
  const char* v = std::getenv("POLARSTACK_LOG_LEVEL");
  std::string s = v ? v : "";
  if (s == "debug") return static_cast<int>(LogLevel::kDebug);
  if (s == "warn") return static_cast<int>(LogLevel::kWarn);
  if (s == "error") return static_cast<int>(LogLevel::kError);
  return static_cast<int>(LogLevel::kInfo);
}
std::atomic<int> g_level{initial_level()};
std::mutex g_mu;
const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }

void log(LogLevel level, std::string_view component, std::string_view message) {
  if (static_cast<int>(level) < g_level.load()) return;
  std::string ts = rfc3339_now_micros();
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "%s %-5s %.*s: %.*s\n", ts.c_str(), kNames[static_cast<int>(level)],
               static_cast<int>(component.size()), component.data(), static_cast<int>(message.size()),
               message.data());
}

}  // namespace polarstack::core
