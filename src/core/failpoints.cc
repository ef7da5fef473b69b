#include "core/failpoints.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "core/log.h"

namespace polarstack::core {

Failpoints& Failpoints::global() {
  static Failpoints* fp = [] {
    auto* f = new Failpoints();
    if (const char* env = std::getenv("POLARSTACK_FAILPOINTS"); env && *env) {
      if (auto st = f->arm(env); !st) core::log_error("failpoints", st.error().message);
    }
    return f;
  }();
  return *fp;
}

core::Status Failpoints::arm(const std::string& spec) {
  std::map<std::string, Armed> parsed;
  size_t start = 0;
  while (start < spec.size()) {
    size_t end = spec.find(';', start);
    std::string item = spec.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? spec.size() : end + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos) return core::fail(core::Code::kInvalid, "failpoint \"" + item + "\": expected point=action");
    std::string point = item.substr(0, eq), action = item.substr(eq + 1);
    if (point.rfind("before:", 0) != 0 && point.rfind("after:", 0) != 0) {
      return core::fail(core::Code::kInvalid, "failpoint \"" + point + "\": must start with before: or after:");
    }
    if (action == "crash") {
      parsed[point] = {Action::kCrash, 1};
    } else if (action.rfind("fail(", 0) == 0 && action.back() == ')') {
      int n = std::atoi(action.substr(5, action.size() - 6).c_str());
      if (n <= 0) return core::fail(core::Code::kInvalid, "failpoint \"" + item + "\": fail(N) needs N > 0");
      parsed[point] = {Action::kFail, n};
    } else {
      return core::fail(core::Code::kInvalid, "failpoint \"" + item + "\": action must be crash or fail(N)");
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [k, v] : parsed) points_[k] = v;
  return {};
}

void Failpoints::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  points_.clear();
}

Failpoints::Action Failpoints::fire(const std::string& point) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = points_.find(point);
  if (it == points_.end() || it->second.remaining <= 0) return Action::kNone;
  if (it->second.action == Action::kCrash) {
    core::log_warn("failpoints", "crashing at " + point);
    ::kill(::getpid(), SIGKILL);
    ::pause();
  }
  it->second.remaining--;
  return it->second.action;
}

}  // namespace polarstack::core
