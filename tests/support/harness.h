// Test harness: temporary directories, running programs (execve with argv, output
// captured), a real `polarstack server` process per test, and waiting on conditions
// with deadlines. Everything started here is stopped by RAII even when a test fails.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/process.h"
#include "kube/client.h"

namespace polarstack::testing {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs argv[0] (a path) with `env` added, feeding `input` on stdin; waits up to `timeout`.
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
              const std::string& input = "", std::chrono::seconds timeout = std::chrono::seconds(60));

// Polls `cond` every 10 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

std::string polarstack_bin();
std::string polarctl_bin();
std::string source_dir();

// A `polarstack server` child process with its own state directory.
class ServerProcess {
 public:
  // Starts the server in `home` (a fresh TempDir when empty) with `env` added and
  // `args` appended to its command line, and waits until it answers.
  explicit ServerProcess(std::string home = "", std::map<std::string, std::string> env = {},
                         std::vector<std::string> args = {});
  ~ServerProcess();

  bool start();  // (re)starts in the same home; true once the API answers
  void kill9();  // SIGKILL, then reaped
  void stop();   // SIGTERM, then reaped
  pid_t pid() const { return child_.pid(); }
  bool running() { return child_.running(); }
  // On destruction, do not stop the databases this server started (a restarted server
  // in the same home is to re-adopt them).
  void leave_databases_running() { stop_databases_ = false; }
  const std::string& home() const { return home_; }
  std::string kubeconfig() const { return home_ + "/kubeconfig"; }
  kube::ClientConfig config() const;
  std::unique_ptr<kube::Client> client() const;
  // Runs polarctl against this server (its home's kubeconfig), `input` on stdin.
  RunResult polarctl(std::vector<std::string> args, const std::string& input = "") const;
  // Writes `text` to <home>/<name> and returns the path.
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::unique_ptr<TempDir> tmp_;
  std::string home_;
  std::map<std::string, std::string> env_;
  std::vector<std::string> args_;
  core::Child child_;
  bool stop_databases_ = true;
};

// From /proc/stat: forks since boot (threads included), and all CPUs' time in ticks
// since boot, total and idle (idle + iowait).
int64_t forks_since_boot();
std::pair<int64_t, int64_t> cpu_ticks();

}  // namespace polarstack::testing
