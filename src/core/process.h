// Child processes started with execve and an argv (never a shell string), owned by RAII.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace polarstack::core {

struct SpawnOptions {
  std::vector<std::string> argv;              // argv[0] is the program path
  std::map<std::string, std::string> env;     // added to (and overriding) the inherited environment
  std::string stdout_path;                    // empty: inherit; else appended to this file
};

// A started child. The destructor kills it (SIGKILL) and reaps it if still running, so a
// failing test never leaves it behind.
class Child {
 public:
  Child() = default;
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept;
  ~Child();

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits up to `timeout` for exit; returns the exit status (as from waitpid) or nullopt.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  void kill_and_wait();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

Result<Child> spawn(const SpawnOptions& opts);

// Resident set size of a process in KiB (from /proc), or -1.
long rss_kib(pid_t pid);

}  // namespace polarstack::core
