#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "core/time.h"

namespace polarstack::core {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
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
