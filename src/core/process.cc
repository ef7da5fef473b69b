#include "core/process.h"

#include "core/files.h"

#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace polarstack::core {

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill_and_wait();
    pid_ = o.pid_;
    reaped_ = o.reaped_;
    o.pid_ = -1;
  }
  return *this;
}

Child::~Child() { kill_and_wait(); }

bool Child::running() {
  if (pid_ <= 0 || reaped_) return false;
  int st;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

void Child::signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

std::optional<int> Child::wait_for(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return st;
    }
    if (r < 0) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling interval of waitpid
  }
}

void Child::kill_and_wait() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
  pid_ = -1;
  reaped_ = false;
}

namespace {
std::vector<std::string> environment_with(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos && extra.count(kv.substr(0, eq))) continue;
    env_strings.push_back(kv);
  }
  for (const auto& [k, v] : extra) env_strings.push_back(k + "=" + v);
  return env_strings;
}

// argv and envp for execve, built before fork: only async-signal-safe calls after it.
struct ExecArgs {
  std::vector<std::string> env_strings;
  std::vector<char*> argv, envp;
  explicit ExecArgs(const SpawnOptions& opts) : env_strings(environment_with(opts.env)) {
    for (const auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

// In the child, after fork: only async-signal-safe calls.
void child_setup(const SpawnOptions& opts, int out_fd) {
  if (out_fd >= 0) {
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
  }
  // Nothing of the parent's but stdio survives the exec: a socket a library opened
  // without CLOEXEC (an accepted API connection, say) would otherwise live on in every
  // daemon, and its peer would never see it close when the parent dies.
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 4096; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (opts.new_process_group) ::setpgid(0, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (!opts.netns.empty()) {
    int ns = ::open(opts.netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) ::_exit(125);
    ::close(ns);
  }
  if (opts.run_as_gid >= 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(opts.run_as_gid) != 0) ::_exit(126);
  }
  if (opts.run_as_uid >= 0 && ::setuid(opts.run_as_uid) != 0) ::_exit(126);
  if (!opts.cwd.empty() && ::chdir(opts.cwd.c_str()) != 0) ::_exit(126);
}
}  // namespace

Result<Child> spawn(const SpawnOptions& opts) {
  if (opts.argv.empty()) return fail(Code::kBadRequest, "spawn: empty argv");
  ExecArgs args(opts);

  int out_fd = -1;
  if (!opts.stdout_path.empty()) {
    out_fd = ::open(opts.stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out_fd < 0) return fail(Code::kInternal, "cannot open " + opts.stdout_path + ": " + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    if (out_fd >= 0) ::close(out_fd);
    return fail(Code::kInternal, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    child_setup(opts, out_fd);
    ::execve(args.argv[0], args.argv.data(), args.envp.data());
    ::_exit(127);
  }
  if (out_fd >= 0) ::close(out_fd);
  return Child(pid);
}

Result<RunResult> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      const std::map<std::string, std::string>& env) {
  if (argv.empty()) return fail(Code::kBadRequest, "run: empty argv");
  SpawnOptions opts;
  opts.argv = argv;
  opts.env = env;
  ExecArgs args(opts);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail(Code::kInternal, std::string("pipe: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return fail(Code::kInternal, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    child_setup(opts, fds[1]);
    ::execve(args.argv[0], args.argv.data(), args.envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  Child child(pid);  // killed and reaped on every early return
  RunResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::close(fds[0]);
      return fail(Code::kUnavailable, argv[0] + " did not finish within " + std::to_string(timeout.count()) + " ms");
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (r.output.size() < (1u << 20)) r.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  auto st = child.wait_for(std::max(left, std::chrono::milliseconds(1)));
  if (!st) return fail(Code::kUnavailable, argv[0] + " did not finish within " + std::to_string(timeout.count()) + " ms");
  r.exit_code = WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  return r;
}

Status run_checked(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, const std::string& what) {
  auto r = run(argv, timeout);
  if (!r) return std::unexpected(r.error());
  if (r->exit_code != 0) return fail(Code::kInternal, what + ": " + trim_right(r->output));
  return {};
}

Result<pid_t> spawn_daemon(const SpawnOptions& opts) {
  if (opts.argv.empty()) return fail(Code::kBadRequest, "spawn: empty argv");
  ExecArgs args(opts);
  int out_fd = ::open(opts.stdout_path.empty() ? "/dev/null" : opts.stdout_path.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out_fd < 0) return fail(Code::kInternal, "cannot open " + opts.stdout_path + ": " + std::strerror(errno));
  if (opts.run_as_uid >= 0) (void)!::fchown(out_fd, opts.run_as_uid, opts.run_as_gid);
  // The pipe carries the daemon's pid, then closes on exec (CLOEXEC) or carries errno.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ::close(out_fd);
    return fail(Code::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out_fd);
    ::close(fds[0]);
    ::close(fds[1]);
    return fail(Code::kInternal, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    ::setsid();
    pid_t grandchild = ::fork();
    if (grandchild != 0) ::_exit(grandchild < 0 ? 1 : 0);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    pid_t self = ::getpid();
    (void)!::write(fds[1], &self, sizeof self);
    child_setup(opts, out_fd);
    ::execve(args.argv[0], args.argv.data(), args.envp.data());
    int err = errno;
    (void)!::write(fds[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(fds[1]);
  ::close(out_fd);
  int st;
  ::waitpid(pid, &st, 0);
  pid_t daemon = -1;
  ssize_t n = ::read(fds[0], &daemon, sizeof daemon);
  int err = 0;
  ssize_t m = n == sizeof daemon ? ::read(fds[0], &err, sizeof err) : 0;
  ::close(fds[0]);
  if (n != sizeof daemon) return fail(Code::kInternal, "cannot start " + opts.argv[0]);
  if (m == sizeof err) return fail(Code::kInternal, "cannot run " + opts.argv[0] + ": " + std::strerror(err));
  return daemon;
}

Result<UserIds> lookup_user(const std::string& name) {
  struct passwd pw, *out = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &out) != 0 || !out) {
    return fail(Code::kNotFound, "no OS user named " + name);
  }
  return UserIds{static_cast<int>(out->pw_uid), static_cast<int>(out->pw_gid)};
}

ProcStat proc_stat(pid_t pid) {
  ProcStat out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // "pid (comm) state ppid ...": comm may hold anything, parentheses included.
  auto open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return out;
  std::istringstream rest(stat.substr(close + 1));
  long ppid = 0;
  if (!(rest >> out.state >> ppid)) return ProcStat{};
  out.comm = stat.substr(open + 1, close - open - 1);
  out.ppid = static_cast<pid_t>(ppid);
  return out;
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  char state = proc_stat(pid).state;
  return state != 0 && state != 'Z';
}

std::vector<pid_t> child_pids(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  // Fast: each thread's children as the kernel lists them (CONFIG_PROC_CHILDREN); a scan
  // of every process otherwise.
  bool listed = false;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(parent) + "/task", ec), end; !ec && it != end;
       it.increment(ec)) {
    std::ifstream in(it->path().string() + "/children");
    if (!in) break;
    listed = true;
    long pid = 0;
    while (in >> pid) out.push_back(static_cast<pid_t>(pid));
  }
  if (listed) return out;
  out.clear();
  ec.clear();
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (proc_stat(pid).ppid == parent) out.push_back(pid);
  }
  return out;
}

std::vector<std::string> process_cmdline(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> out;
  std::string arg;
  while (std::getline(in, arg, '\0')) out.push_back(arg);
  return out;
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace polarstack::core
