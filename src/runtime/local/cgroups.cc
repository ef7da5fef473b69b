#include "runtime/local/cgroups.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <map>

#include "core/files.h"

namespace polarstack::runtime::local {

namespace fs = std::filesystem;
using core::Code;

namespace {
constexpr const char* kRoot = "/sys/fs/cgroup";
bool v2() { return core::file_exists(std::string(kRoot) + "/cgroup.controllers"); }
bool v1(const char* controller) { return core::file_exists(std::string(kRoot) + "/" + controller + "/cgroup.procs"); }

// Control files take one plain write (no temp file and rename).
core::Status write(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  int err = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) return core::fail(Code::kInternal, "cannot write " + value + " to " + path + ": " + std::strerror(err));
  return {};
}

core::Status make(const std::string& dir, int owner_uid) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return core::fail(Code::kInternal, "cannot create cgroup " + dir + ": " + ec.message());
  // The manager (the postgres user) walks down to its group to join it.
  for (fs::path p = dir; p.string().size() > std::string(kRoot).size() + 1; p = p.parent_path()) {
    ::chmod(p.c_str(), 0755);
    if (p.filename() == "polarstack") break;
  }
  if (owner_uid >= 0) {
    for (const char* f : {"cgroup.procs", "tasks"}) {
      std::string p = dir + "/" + f;
      if (core::file_exists(p)) (void)!::chown(p.c_str(), static_cast<uid_t>(owner_uid), static_cast<gid_t>(-1));
    }
  }
  return {};
}

std::vector<pid_t> with_descendants(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.find_first_not_of("0123456789") != std::string::npos) continue;
    auto stat = core::read_file("/proc/" + n + "/stat");
    if (!stat) continue;
    size_t close = stat->rfind(')');
    if (close == std::string::npos || close + 4 > stat->size()) continue;
    pid_t ppid = std::atoi(stat->c_str() + stat->find(' ', close + 2) + 1);
    children[ppid].push_back(std::atoi(n.c_str()));
  }
  std::vector<pid_t> out = {root};
  for (size_t i = 0; i < out.size(); ++i) {
    for (pid_t c : children[out[i]]) out.push_back(c);
  }
  return out;
}
}  // namespace

std::string limits_unsupported() {
  if (::geteuid() != 0) return "CPU and memory limits need root (cgroups); this server runs as uid " + std::to_string(::geteuid());
  if (v2()) {
    auto c = core::read_file(std::string(kRoot) + "/cgroup.controllers");
    if (!c || c->find("cpu") == std::string::npos || c->find("memory") == std::string::npos) {
      return "the cgroup v2 hierarchy at /sys/fs/cgroup has no cpu and memory controllers";
    }
    return "";
  }
  if (!v1("cpu") || !v1("memory")) return "no cgroup cpu and memory controllers are mounted under /sys/fs/cgroup";
  return "";
}

core::Result<std::vector<std::string>> set_limits(const std::string& group, int64_t cpu_millis, int64_t memory_bytes,
                                                  int owner_uid) {
  if (auto why = limits_unsupported(); !why.empty()) return core::fail(Code::kUnsupported, why);
  std::vector<std::string> dirs;
  if (v2()) {
    // Each level above must hand the controllers down.
    std::string dir = kRoot;
    std::string rest = "polarstack/" + group;
    size_t at = 0;
    while (at <= rest.size()) {
      (void)write(dir + "/cgroup.subtree_control", "+cpu +memory");
      size_t slash = rest.find('/', at);
      dir += "/" + rest.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
      if (auto st = make(dir, owner_uid); !st) return std::unexpected(st.error());
      if (slash == std::string::npos) break;
      at = slash + 1;
    }
    std::string cpu = cpu_millis > 0 ? std::to_string(cpu_millis * 100) + " 100000" : "max 100000";
    if (auto st = write(dir + "/cpu.max", cpu); !st) return std::unexpected(st.error());
    if (auto st = write(dir + "/memory.max", memory_bytes > 0 ? std::to_string(memory_bytes) : "max"); !st) {
      return std::unexpected(st.error());
    }
    dirs.push_back(dir);
    return dirs;
  }
  std::string cpu = std::string(kRoot) + "/cpu/polarstack/" + group;
  std::string mem = std::string(kRoot) + "/memory/polarstack/" + group;
  for (const auto& d : {cpu, mem}) {
    if (auto st = make(d, owner_uid); !st) return std::unexpected(st.error());
  }
  if (auto st = write(cpu + "/cpu.cfs_period_us", "100000"); !st) return std::unexpected(st.error());
  if (auto st = write(cpu + "/cpu.cfs_quota_us", cpu_millis > 0 ? std::to_string(cpu_millis * 100) : "-1"); !st) {
    return std::unexpected(st.error());
  }
  if (auto st = write(mem + "/memory.limit_in_bytes", memory_bytes > 0 ? std::to_string(memory_bytes) : "-1"); !st) {
    return std::unexpected(st.error());
  }
  dirs = {cpu, mem};
  return dirs;
}

core::Status attach(const std::vector<std::string>& dirs, pid_t pid) {
  for (pid_t p : with_descendants(pid)) {
    for (const auto& d : dirs) {
      // A process that exited meanwhile is no error.
      if (auto st = write(d + "/cgroup.procs", std::to_string(p)); !st && ::kill(p, 0) == 0) return st;
    }
  }
  return {};
}

void remove_limits(const std::string& group) {
  for (const std::string& base : {std::string(kRoot) + "/cpu/polarstack/", std::string(kRoot) + "/memory/polarstack/",
                                  std::string(kRoot) + "/polarstack/"}) {
    ::rmdir((base + group).c_str());
  }
}

}  // namespace polarstack::runtime::local
