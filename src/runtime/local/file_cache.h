// What the local runtime reads again and again of its daemons' files, read again only
// when they change, so looking at every instance of many clusters every few hundred
// milliseconds costs a stat per file and a kill(0) per daemon:
// - an instance's instance.json, parsed (by its directory);
// - a secret file's value (the cluster's token);
// - a daemon found by its pid file and verified by its command line: the verification is
//   kept while the pid file is unchanged and the process lives, and made again every
//   kVerifyEvery (a pid the kernel gave to another process is noticed then).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "core/error.h"
#include "instance/config.h"

namespace polarstack::runtime::local {

// The pid in `pid_file` if that process is alive and is `polarstack <sub> --dir <dir>` or
// `polarstack-<sub> --dir <dir>` (instance managers; older ones ran as `polarstack
// instance`); -1 otherwise. Reads the files every time.
pid_t daemon_pid(const std::string& pid_file, const std::string& sub, const std::string& dir);
// Stops a daemon we started (found by daemon_pid): SIGTERM, then SIGKILL after `grace`.
void stop_daemon(const std::string& pid_file, const std::string& sub, const std::string& dir,
                 std::chrono::seconds grace);

class FileCache {
 public:
  core::Result<instance::Config> config(const std::string& dir);
  core::Result<std::string> secret(const std::string& file);
  // daemon_pid(), remembered (see above).
  pid_t daemon(const std::string& pid_file, const std::string& sub, const std::string& dir);

  static constexpr auto kVerifyEvery = std::chrono::seconds(10);

 private:
  struct Stamp {
    int64_t mtime_ns = -1, size = -1, inode = -1;  // files are replaced by rename: a new inode
    bool operator==(const Stamp&) const = default;
  };
  struct Verified {
    Stamp stamp;
    pid_t pid = -1;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex mu_;
  std::map<std::string, std::pair<Stamp, instance::Config>> configs_;  // by directory
  std::map<std::string, std::pair<Stamp, std::string>> secrets_;       // by file
  std::map<std::string, Verified> daemons_;                            // by pid file
};

}  // namespace polarstack::runtime::local
