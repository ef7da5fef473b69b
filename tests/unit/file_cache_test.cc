// runtime::local::FileCache: files read again only when they change (a rewrite through
// rename, or in place with a new mtime), and a daemon's pid kept only while it lives.
// instance::HttpServer: a client that reconnects again and again costs no new thread.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "core/files.h"
#include "instance/config.h"
#include "instance/http.h"
#include "runtime/local/file_cache.h"
#include "runtime/local/ports.h"
#include "support/harness.h"

namespace polarstack::runtime::local {
namespace {

// Rewrites `path` in place (same inode, same size) and puts its old mtime back: to a
// stat it is unchanged.
void rewrite_unseen(const std::string& path, const std::string& text) {
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  ASSERT_EQ(static_cast<size_t>(before.st_size), text.size());
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::futimens(fd, times), 0);
  ::close(fd);
}

TEST(FileCache, AConfigIsReadAgainOnlyWhenItsFileChanges) {
  testing::TempDir dir;
  instance::Config cfg;
  cfg.name = "c-0";
  cfg.role = "primary";
  cfg.port = 20001;
  cfg.api_port = 20002;
  ASSERT_TRUE(instance::save_config({dir.path()}, cfg));
  FileCache files;
  auto a = files.config(dir.path());
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->port, 20001);

  // The same length, written in place with the old mtime: the cached value stands.
  auto text = core::read_file(dir.path() + "/instance.json");
  ASSERT_TRUE(text);
  std::string other = *text;
  auto at = other.find("20001");
  ASSERT_NE(at, std::string::npos);
  other.replace(at, 5, "20009");
  rewrite_unseen(dir.path() + "/instance.json", other);
  EXPECT_EQ(files.config(dir.path())->port, 20001) << "read again though nothing a stat sees changed";

  // Saved again (a rename: a new inode): read again.
  cfg.port = 20003;
  ASSERT_TRUE(instance::save_config({dir.path()}, cfg));
  EXPECT_EQ(files.config(dir.path())->port, 20003);

  std::filesystem::remove(dir.path() + "/instance.json");
  auto gone = files.config(dir.path());
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, core::Code::kNotFound);
}

TEST(FileCache, ASecretChangedOnDiskIsSeen) {
  testing::TempDir dir;
  std::string file = dir.path() + "/token";
  ASSERT_TRUE(core::write_file_atomic(file, "first\n"));
  FileCache files;
  EXPECT_EQ(files.secret(file).value_or(""), "first");
  ASSERT_TRUE(core::write_file_atomic(file, "second\n"));
  EXPECT_EQ(files.secret(file).value_or(""), "second");
  std::filesystem::remove(file);
  EXPECT_FALSE(files.secret(file));
}

// This very test binary, exec'd as `polarstack-fake --dir <dir>` and running only the
// helper below: a daemon look-alike whose command line names `dir`.
pid_t start_fake(const std::string& dir) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("GTEST_FILTER", "FileCacheHelper.LivesWhenAsked", 1);
    ::setenv("POLARSTACK_FAKE_DAEMON", "1", 1);
    const char* argv[] = {"polarstack-fake", "--dir", dir.c_str(), nullptr};
    ::execv("/proc/self/exe", const_cast<char* const*>(argv));
    ::_exit(127);
  }
  return pid;
}

TEST(FileCacheHelper, LivesWhenAsked) {
  if (!std::getenv("POLARSTACK_FAKE_DAEMON")) GTEST_SKIP() << "a helper process of FileCache tests";
  ::pause();  // lives until the test kills it (SIGKILL)
}

TEST(FileCache, ADaemonIsKnownWhileItLivesAndItsPidFileNamesIt) {
  testing::TempDir dir;
  std::string pid_file = dir.path() + "/fake.pid";
  pid_t pid = start_fake(dir.path());
  ASSERT_GT(pid, 0);
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{pid};
  ASSERT_TRUE(core::write_file_atomic(pid_file, std::to_string(pid) + "\n"));
  FileCache files;
  // Its command line shows once it has exec'd.
  ASSERT_TRUE(polarstack::testing::wait_until([&] { return files.daemon(pid_file, "fake", dir.path()) == pid; },
                                              std::chrono::seconds(10)));
  EXPECT_EQ(files.daemon(pid_file, "fake", dir.path()), pid);
  EXPECT_EQ(files.daemon(pid_file, "other", dir.path()), pid) << "kept while the pid file stands (verified by file)";
  FileCache fresh;
  EXPECT_EQ(fresh.daemon(pid_file, "other", dir.path()), -1) << "another daemon's name";
  EXPECT_EQ(fresh.daemon(pid_file, "fake", dir.path() + "/elsewhere"), -1) << "another directory";
  EXPECT_EQ(daemon_pid(pid_file, "fake", dir.path()), pid);

  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(files.daemon(pid_file, "fake", dir.path()), -1) << "a dead daemon is not running, pid file or not";
  std::filesystem::remove(pid_file);
  EXPECT_EQ(files.daemon(pid_file, "fake", dir.path()), -1);
}

// Threads of this process (their ids).
std::set<std::string> threads() {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) out.insert(e.path().filename());
  return out;
}

TEST(InstanceHttpServer, AClientThatReconnectsAgainAndAgainCostsNoNewThread) {
  int port = 0;
  for (int p = 24000; p < 24999 && port == 0; ++p) port = port_free(p) ? p : 0;
  ASSERT_GT(port, 0);
  instance::HttpServer server([](const instance::HttpRequest& r) { return instance::HttpResponse{200, "{\"path\":\"" + r.path + "\"}"}; });
  ASSERT_TRUE(server.listen("127.0.0.1", port));
  std::thread serving([&] { server.serve(); });
  auto ask = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    std::string got;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      std::string req = "GET /v1/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      (void)::write(fd, req.data(), req.size());
      char buf[512];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return got;
  };
  ASSERT_NE(ask().find("/v1/x"), std::string::npos);
  std::set<std::string> seen = threads();
  size_t first = seen.size();
  for (int i = 0; i < 30; ++i) {
    ASSERT_NE(ask().find("200"), std::string::npos);
    for (const auto& t : threads()) seen.insert(t);
  }
  // One connection at a time: the thread that served the first serves them all (a thread
  // per connection would have shown 30 new ones).
  EXPECT_LE(seen.size(), first + 1) << "connections each started a thread";
  server.stop();
  serving.join();
}

}  // namespace
}  // namespace polarstack::runtime::local
