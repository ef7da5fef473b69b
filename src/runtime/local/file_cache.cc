#include "runtime/local/file_cache.h"

#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/files.h"
#include "core/process.h"

namespace polarstack::runtime::local {

using core::Code;
using Clock = std::chrono::steady_clock;

namespace {
template <class S>
bool stamp_of(const std::string& path, S& s) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.size = static_cast<int64_t>(st.st_size);
  s.inode = static_cast<int64_t>(st.st_ino);
  return true;
}
}  // namespace

pid_t daemon_pid(const std::string& pid_file, const std::string& sub, const std::string& dir) {
  auto text = core::read_file(pid_file);
  if (!text) return -1;
  pid_t pid = static_cast<pid_t>(std::atol(text->c_str()));
  if (!core::process_alive(pid)) return -1;
  auto args = core::process_cmdline(pid);
  bool sub_form = args.size() >= 4 && args[1] == sub && args[3] == dir;
  bool exe_form = args.size() >= 3 && std::filesystem::path(args[0]).filename() == "polarstack-" + sub &&
                  args[1] == "--dir" && args[2] == dir;
  return sub_form || exe_form ? pid : -1;
}

// Stops a daemon we started (found by its verified pid file): SIGTERM, then SIGKILL.
void stop_daemon(const std::string& pid_file, const std::string& sub, const std::string& dir,
                 std::chrono::seconds grace) {
  pid_t pid = daemon_pid(pid_file, sub, dir);
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (core::process_alive(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // waiting for a process that is not our child
  }
  if (core::process_alive(pid)) ::kill(pid, SIGKILL);
}

core::Result<instance::Config> FileCache::config(const std::string& dir) {
  Stamp s;
  std::string file = instance::Paths{dir}.config();
  if (!stamp_of(file, s)) return core::fail(Code::kNotFound, "no instance at " + dir);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = configs_.find(dir);
    if (it != configs_.end() && it->second.first == s) return it->second.second;
  }
  auto cfg = instance::load_config({dir});
  if (!cfg) return cfg;
  std::lock_guard<std::mutex> lock(mu_);
  configs_[dir] = {s, *cfg};
  return cfg;
}

core::Result<std::string> FileCache::secret(const std::string& file) {
  Stamp s;
  if (!stamp_of(file, s)) return core::fail(Code::kNotFound, "cannot read " + file);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = secrets_.find(file);
    if (it != secrets_.end() && it->second.first == s) return it->second.second;
  }
  auto v = core::read_secret(file);
  if (!v) return v;
  std::lock_guard<std::mutex> lock(mu_);
  secrets_[file] = {s, *v};
  return v;
}

pid_t FileCache::daemon(const std::string& pid_file, const std::string& sub, const std::string& dir) {
  Stamp s;
  if (!stamp_of(pid_file, s)) return -1;
  auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = daemons_.find(pid_file);
    if (it != daemons_.end() && it->second.stamp == s && now - it->second.at < kVerifyEvery) {
      if (it->second.pid <= 0 || !core::process_alive(it->second.pid)) {
        daemons_.erase(it);  // died: a new one may write the same pid file with the same stamp
        return -1;
      }
      return it->second.pid;
    }
  }
  pid_t pid = daemon_pid(pid_file, sub, dir);
  std::lock_guard<std::mutex> lock(mu_);
  if (pid > 0) daemons_[pid_file] = {s, pid, now};
  else daemons_.erase(pid_file);
  return pid;
}

}  // namespace polarstack::runtime::local
