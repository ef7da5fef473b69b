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
  std::string cwd;                            // empty: inherit
  int run_as_uid = -1;                        // >= 0: setgid/setuid to these in the child
  int run_as_gid = -1;
  bool new_process_group = false;             // setpgid(0, 0): signal the whole group by -pid
  std::string netns;                          // non-empty: a network namespace file (/run/netns/NAME)
                                              // the child enters (setns) before it drops privileges
};

// The uid and gid of an OS user, e.g. "postgres".
struct UserIds {
  int uid = -1, gid = -1;
};
Result<UserIds> lookup_user(const std::string& name);

// Starts a daemon: double fork and setsid, so it is not our child, survives us, and is
// reparented to init. stdin is /dev/null; stdout and stderr go to opts.stdout_path.
// Returns the daemon's pid once it has exec'd (or the exec error).
Result<pid_t> spawn_daemon(const SpawnOptions& opts);

// True if a process with this pid exists (and is not a zombie of ours).
bool process_alive(pid_t pid);
// From /proc/<pid>/stat: its command name (what exec'd it: "postgres" whatever title a
// backend sets), its state ('R', 'S', 'Z', ...; 0 if it is gone) and its parent.
struct ProcStat {
  std::string comm;
  char state = 0;
  pid_t ppid = 0;
};
ProcStat proc_stat(pid_t pid);
// The process's argv from /proc (empty if it is gone).
// The processes whose parent is `parent` now (from /proc).
std::vector<pid_t> child_pids(pid_t parent);
std::vector<std::string> process_cmdline(pid_t pid);

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
  // Gives up ownership: the caller reaps the process itself.
  pid_t release() {
    pid_t p = pid_;
    pid_ = -1;
    return p;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

Result<Child> spawn(const SpawnOptions& opts);

// Runs a short command to completion and returns its exit code and its stdout and stderr
// together (at most 1 MiB kept). Killed, and an error returned, after `timeout`.
struct RunResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string output;
};
Result<RunResult> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      const std::map<std::string, std::string>& env = {});
// run(), and an error naming `what` with the command's own words if it exits non-zero.
Status run_checked(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, const std::string& what);

// Resident set size of a process in KiB (from /proc), or -1.
long rss_kib(pid_t pid);

}  // namespace polarstack::core
