#include "support/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <thread>

#include <cstdio>

#include "core/files.h"
#include "kube/config.h"

extern char** environ;

namespace polarstack::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/polarstack-test-XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  path_ = p ? p : "";
  // Traversable (not listable): as root, databases under it run as the postgres user.
  if (p) ::chmod(p, 0711);
}

TempDir::~TempDir() {
  std::error_code ec;
  // POLARSTACK_KEEP_TEST_DIRS=1 keeps them (logs, data) to debug a failure.
  const char* keep = std::getenv("POLARSTACK_KEEP_TEST_DIRS");
  if (keep && *keep == '1') {
    std::fprintf(stderr, "kept %s\n", path_.c_str());
    return;
  }
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& input, std::chrono::seconds timeout) {
  RunResult r;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return r;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (env.count(kv.substr(0, kv.find('=')))) continue;
    env_strings.push_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (auto& e : env_strings) ev.push_back(e.data());
  ev.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execve(av[0], av.data(), ev.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (!input.empty()) {
    ssize_t n = ::write(in[1], input.data(), input.size());
    (void)n;
  }
  ::close(in[1]);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (::poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds) if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  if (open_fds > 0) ::kill(pid, SIGKILL);  // timed out
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval, not a synchronisation
  }
}

std::string polarstack_bin() { return POLARSTACK_BIN; }
std::string polarctl_bin() { return POLARCTL_BIN; }
std::string source_dir() { return POLARSTACK_SOURCE_DIR; }

ServerProcess::ServerProcess(std::string home, std::map<std::string, std::string> env, std::vector<std::string> args)
    : env_(std::move(env)), args_(std::move(args)) {
  // Most tests exercise the API and the operation machinery: they opt in to real databases.
  env_.try_emplace("POLARSTACK_CLUSTER_CONTROLLER", "off");
  if (home.empty()) {
    tmp_ = std::make_unique<TempDir>();
    home_ = tmp_->path();
  } else {
    home_ = std::move(home);
  }
  start();
}

ServerProcess::~ServerProcess() {
  child_.kill_and_wait();
  // Databases and proxies outlive the server by design: stop the ones this test started.
  if (stop_databases_ && core::file_exists(home_ + "/runtime.json")) run({polarstack_bin(), "stop", "--all", "--home", home_});
}

bool ServerProcess::start() {
  ::unlink(kubeconfig().c_str());
  std::vector<std::string> argv = {polarstack_bin(), "server", "--home", home_, "--port", "0", "--data-root",
                                   home_ + "/data"};
  argv.insert(argv.end(), args_.begin(), args_.end());
  auto c = core::spawn({argv, env_, home_ + "/server.log"});
  if (!c) return false;
  child_ = std::move(*c);
  return wait_until(
      [&] {
        if (!child_.running()) return false;
        auto cfg = kube::load_kubeconfig(kubeconfig());
        if (!cfg) return false;
        kube::Client cl(*cfg);
        return cl.request("GET", "/version").has_value();
      },
      std::chrono::seconds(20));
}

void ServerProcess::kill9() {
  child_.signal(SIGKILL);
  child_.wait_for(std::chrono::seconds(10));
}

void ServerProcess::stop() {
  child_.signal(SIGTERM);
  if (!child_.wait_for(std::chrono::seconds(10))) child_.kill_and_wait();
}

kube::ClientConfig ServerProcess::config() const {
  auto cfg = kube::load_kubeconfig(kubeconfig());
  return cfg ? *cfg : kube::ClientConfig{};
}

std::unique_ptr<kube::Client> ServerProcess::client() const { return std::make_unique<kube::Client>(config()); }

RunResult ServerProcess::polarctl(std::vector<std::string> args, const std::string& input) const {
  args.insert(args.begin(), polarctl_bin());
  return run(args, {{"POLARSTACK_HOME", home_}, {"KUBECONFIG", ""}}, input);
}

std::string ServerProcess::write(const std::string& name, const std::string& text) const {
  std::string p = home_ + "/" + name;
  std::ofstream(p) << text;
  return p;
}

int64_t forks_since_boot() {
  std::ifstream in("/proc/stat");
  std::string key;
  int64_t v = 0;
  while (in >> key) {
    if (key == "processes") return (in >> v) ? v : -1;
    in.ignore(1 << 16, '\n');
  }
  return -1;
}

std::pair<int64_t, int64_t> cpu_ticks() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  int64_t v, total = 0, idle = 0;
  for (int i = 0; i < 8 && in >> v; ++i) {
    total += v;
    if (i == 3 || i == 4) idle += v;
  }
  return {total, idle};
}

}  // namespace polarstack::testing
