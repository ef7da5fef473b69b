// The instance manager's own PostgreSQL client (engine/wire.h) against a real PostgreSQL
// 15 postmaster: rows, NULLs, parameters, server errors (the connection stays usable),
// timeouts (it does not), and a refused authentication method.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/files.h"
#include "core/process.h"
#include "engine/wire.h"
#include "support/harness.h"

namespace polarstack::testing {
namespace {

using namespace std::chrono_literals;
const std::string kBin = "/usr/lib/postgresql/15/bin/";

// A throwaway postmaster with the given host-based authentication; stopped (by its pid)
// even when the test fails.
class Postmaster {
 public:
  explicit Postmaster(const std::string& hba) {
    ::chmod(tmp_.path().c_str(), 0711);
    dir_ = tmp_.path() + "/pg";
    core::ensure_dir(dir_, 0700);
    if (::geteuid() == 0) {
      auto ids = core::lookup_user("postgres");
      if (ids) (void)!::chown(dir_.c_str(), static_cast<uid_t>(ids->uid), static_cast<gid_t>(ids->gid));
    }
    auto init = run(as_pg({kBin + "initdb", "-D", dir_ + "/data", "-A", "trust", "-U", "postgres", "--no-instructions"}));
    if (init.exit_code != 0) {
      error_ = "initdb: " + init.out + init.err;
      return;
    }
    run(as_pg({"/usr/bin/tee", dir_ + "/data/pg_hba.conf"}), {}, hba);
    auto start = run(as_pg({kBin + "pg_ctl", "-D", dir_ + "/data", "-w", "-l", dir_ + "/log", "-o",
                            "-p " + std::to_string(port_) + " -k " + dir_ + " -c listen_addresses=''", "start"}));
    if (start.exit_code != 0) error_ = "pg_ctl start: " + start.out + start.err;
  }
  ~Postmaster() {
    auto t = core::read_file(dir_ + "/data/postmaster.pid");
    if (t) {
      pid_t pid = static_cast<pid_t>(std::atol(t->c_str()));
      if (pid > 0 && core::process_alive(pid)) {
        ::kill(pid, SIGINT);
        wait_until([&] { return !core::process_alive(pid); }, 30s);
      }
    }
  }
  const std::string& error() const { return error_; }
  engine::WireConnection::Target target(const std::string& user = "postgres") const {
    return {dir_, port_, user, "postgres", "wire-test"};
  }

 private:
  static std::vector<std::string> as_pg(std::vector<std::string> argv) {
    if (::geteuid() == 0) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
    return argv;
  }
  TempDir tmp_;
  std::string dir_, error_;
  int port_ = 5432;  // only names the socket: it listens on no TCP port
};

TEST(WireTest, QueriesParametersErrorsAndTimeouts) {
  Postmaster pm("local all all trust\n");
  ASSERT_EQ(pm.error(), "");
  auto c = engine::WireConnection::open(pm.target(), 5s);
  ASSERT_TRUE(c) << c.error().message;

  auto rows = c->query("select g, case when g = 2 then null else 'v' || g end from generate_series(1, 3) g");
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0][0].value_or("?"), "1");
  EXPECT_EQ((*rows)[0][1].value_or("?"), "v1");
  EXPECT_FALSE((*rows)[1][1].has_value());  // NULL

  // Parameters are values, never SQL.
  std::string evil = "x'); drop table t; --";
  rows = c->query("select $1::text, length($2::text)", {evil, std::string(100000, 'a')});
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ((*rows)[0][0].value_or(""), evil);
  EXPECT_EQ((*rows)[0][1].value_or(""), "100000");

  // A server error names itself and leaves the connection usable.
  auto bad = c->query("select * from no_such_table");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("no_such_table"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("42P01"), std::string::npos) << bad.error().message;
  EXPECT_TRUE(c->ok());
  EXPECT_TRUE(c->exec("create table t (id int)"));
  EXPECT_FALSE(c->exec("insert into t values ($1)", {"not a number"}));
  EXPECT_TRUE(c->exec("insert into t values ($1)", {"7"}));
  rows = c->query("select count(*), sum(id) from t");
  ASSERT_TRUE(rows);
  EXPECT_EQ((*rows)[0][0].value_or(""), "1");

  // A query that outlives its timeout breaks the connection (the caller reconnects).
  auto slow = c->query("select pg_sleep(3)", {}, 200ms);
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, core::Code::kUnavailable);
  EXPECT_FALSE(c->ok());
  EXPECT_FALSE(c->query("select 1"));
}

TEST(WireTest, RefusesWhatNeedsAPasswordAndNamesTheProblem) {
  Postmaster pm("local all postgres trust\nlocal all all scram-sha-256\n");
  ASSERT_EQ(pm.error(), "");
  struct Case {
    std::string name, user, want;
  };
  const std::vector<Case> cases = {
      {"password method", "someone", "authentication method 10"},  // SASL: refused, not attempted
  };
  {
    auto c = engine::WireConnection::open(pm.target(), 5s);
    ASSERT_TRUE(c) << c.error().message;
    ASSERT_TRUE(c->exec("create role someone login password 'secret'"));
  }
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto c = engine::WireConnection::open(pm.target(tc.user), 5s);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find(tc.want), std::string::npos) << c.error().message;
  }
  auto nodb = pm.target();
  nodb.dbname = "no_such_db";
  auto none = engine::WireConnection::open(nodb, 5s);
  ASSERT_FALSE(none);  // the server's own error, passed on
  EXPECT_NE(none.error().message.find("no_such_db"), std::string::npos) << none.error().message;
  EXPECT_NE(none.error().message.find("3D000"), std::string::npos) << none.error().message;
  auto t = pm.target();
  t.port = 1;  // nothing listens there
  auto gone = engine::WireConnection::open(t, 5s);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, core::Code::kUnavailable);
}

}  // namespace
}  // namespace polarstack::testing
