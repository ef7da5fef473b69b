// Kubernetes conventions and first-run robustness on real PostgreSQL 15 clusters:
// `kubectl wait` and `polarctl wait` on conditions that carry their generation (Ready at
// creation, and again after a scale), `kubectl scale` through the scale subresource, a
// dead proxy's redirect table that would hijack the next cluster's ports, and an
// instance whose manager cannot be reached saying so in status. Bounded waits only.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/files.h"
#include "core/process.h"
#include "runtime/local/ports.h"
#include "runtime/local/redirect.h"
#include "support/harness.h"

namespace polarstack::testing {
namespace {

using core::Json;
using namespace std::chrono_literals;

const std::map<std::string, std::string> kClusters = {{"POLARSTACK_CLUSTER_CONTROLLER", "on"}};

std::string kubectl_path() {
  for (const char* p : {"/usr/bin/kubectl", "/usr/local/bin/kubectl"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

RunResult kubectl(const ServerProcess& server, std::vector<std::string> args) {
  args.insert(args.begin(), kubectl_path());
  // kubectl's discovery cache stays in the test's directory.
  return run(args, {{"KUBECONFIG", server.kubeconfig()}, {"HOME", server.home()}}, "", 240s);
}

Json get_cluster(const ServerProcess& server, const std::string& name) {
  auto c = server.client()->get(kube::clusters_ref(), "default", name);
  return c ? *c : Json();
}

Json condition_of(const Json& cluster, const std::string& type) {
  const Json* cs = cluster.is_null() ? nullptr : core::find_path(cluster, "status.conditions");
  for (const auto& c : cs && cs->is_array() ? *cs : Json::array()) {
    if (c.value("type", "") == type) return c;
  }
  return Json();
}

std::string apply_yaml(const std::string& name, int readers) {
  return "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: " + name + "\nspec:\n  readers: " +
         std::to_string(readers) + "\n";
}

// A pid no process has now (a child that already exited and was reaped).
pid_t dead_pid() {
  pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  int st = 0;
  ::waitpid(p, &st, 0);
  return p;
}

// A redirect table of polarstack's shape, named after `owner` (a proxy that is gone,
// unless told otherwise), sending connections to `ports` on 127.0.0.1 to `to`. Removed
// on destruction if still there.
struct StaleTable {
  std::string name;
  StaleTable(const std::vector<int>& ports, int to, pid_t owner = dead_pid()) : name(runtime::local::redirect_table(owner)) {
    std::string script = "table ip " + name + " {\n  chain out {\n    type nat hook output priority -100; policy accept;\n";
    for (int p : ports) {
      script += "    ip daddr 127.0.0.1 tcp dport " + std::to_string(p) + " redirect to :" + std::to_string(to) +
                " comment \"default/stale read-write\"\n";
    }
    script += "  }\n}\n";
    std::string path = dir.path() + "/stale.nft";
    core::write_file_atomic(path, script, 0600);
    ok = runtime::local::apply_redirect(path).has_value();
  }
  ~StaleTable() {
    if (present()) runtime::local::remove_redirect(name);
  }
  bool present() const {
    auto t = runtime::local::list_redirects();
    return std::find(t.begin(), t.end(), name) != t.end();
  }
  TempDir dir;
  bool ok = false;
};

// A live process that the sweep takes for a proxy (its argv[1] is "proxy", as polarstack's
// proxies' is): its table stays, as a live proxy of another server's would. tail keeps
// following the file named proxy until it is stopped.
struct LiveProxyLookalike {
  TempDir dir;
  core::Child child;
  LiveProxyLookalike() {
    core::write_file_atomic(dir.path() + "/proxy", "", 0600);
    core::SpawnOptions o;
    o.argv = {"/usr/bin/tail", "proxy", "-f"};
    o.cwd = dir.path();
    if (auto c = core::spawn(o)) child = std::move(*c);
  }
  ~LiveProxyLookalike() { child.kill_and_wait(); }
  pid_t pid() const { return child.pid(); }
};

// kubectl wait and polarctl wait: Ready at creation; after `kubectl scale` (a new
// generation) the old Ready no longer counts, and the wait ends only once the new reader
// is ready. The conditions carry the generation they were computed for.
TEST(ConventionsTest, KubectlWaitAndScaleFollowTheGeneration) {
  ASSERT_FALSE(kubectl_path().empty()) << "kubectl is not installed (scripts/install-deps.sh installs it)";
  ServerProcess server("", kClusters);
  ASSERT_EQ(server.polarctl({"apply", "-f", server.write("w.yaml", apply_yaml("kw", 0))}).exit_code, 0);

  auto r = kubectl(server, {"wait", "polardbcluster/kw", "--for=condition=Ready", "--timeout=180s"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << get_cluster(server, "kw").dump(1);
  EXPECT_NE(r.out.find("condition met"), std::string::npos) << r.out;
  Json c = get_cluster(server, "kw");
  EXPECT_EQ(condition_of(c, "Ready").value("observedGeneration", int64_t{-1}), 1) << c.dump(1);
  for (const char* type : {"Progressing", "Degraded", "InstanceUnreachable"}) {
    EXPECT_EQ(condition_of(c, type).value("observedGeneration", int64_t{-1}), 1) << type << c.dump(1);
  }

  r = kubectl(server, {"scale", "pdb", "kw", "--replicas=1"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("scaled"), std::string::npos) << r.out;
  c = get_cluster(server, "kw");
  EXPECT_EQ(c["spec"]["readers"], 1);
  EXPECT_EQ(c["metadata"]["generation"], 2);

  r = kubectl(server, {"wait", "pdb/kw", "--for=condition=Ready", "--timeout=180s"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << get_cluster(server, "kw").dump(1);
  c = get_cluster(server, "kw");
  EXPECT_EQ(condition_of(c, "Ready").value("observedGeneration", int64_t{-1}), 2) << c.dump(1);
  EXPECT_EQ(core::find_path(c, "status.readyReaders") ? c["status"]["readyReaders"].get<int>() : -1, 1) << c.dump(1);
  r = kubectl(server, {"get", "pdb", "kw", "--subresource=scale", "-o", "jsonpath={.spec.replicas} {.status.replicas}"});
  EXPECT_EQ(r.out, "1 1") << r.err;

  // polarctl wait: the same forms, its own errors.
  auto p = server.polarctl({"wait", "pdb/kw", "--for=condition=Ready", "--timeout=30s"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, "polardbcluster.polarstack.io/kw condition met\n");
  p = server.polarctl({"wait", "pdb", "kw", "--for=jsonpath={.status.readyReaders}=1", "--timeout=30s"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  p = server.polarctl({"wait", "pdb", "--all", "--for=condition=Ready", "--timeout=30s"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, "polardbcluster.polarstack.io/kw condition met\n");
  p = server.polarctl({"wait", "pdb/kw", "--for=condition=Interrupted", "--timeout=1s"});
  EXPECT_EQ(p.exit_code, 1);
  EXPECT_NE(p.err.find("timed out waiting for the condition on polardbclusters/kw"), std::string::npos) << p.err;
  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& b : std::vector<Bad>{
           {{"wait", "pdb/kw", "--for=condition=Ready=maybe"}, "True, False or Unknown"},
           {{"wait", "pdb/kw", "--for=condition=Ready", "--timeout=soon"}, "--timeout: \"soon\" is not a duration"},
           {{"wait", "pdb/kw"}, "usage: polarctl wait"},
           {{"wait", "nosuchtype/kw", "--for=delete"}, "doesn't have a resource type \"nosuchtype\""},
           {{"wait", "pdb/nosuch", "--for=condition=Ready", "--timeout=5s"}, "not found"},
           {{"wait", "pdb/kw", "--all", "--for=condition=Ready"}, "give names or --all, not both"},
           {{"wait", "pdb", "--all", "-n", "nothing-here", "--for=condition=Ready"}, "no matching resources found"},
       }) {
    SCOPED_TRACE(b.args[1]);
    auto res = server.polarctl(b.args);
    EXPECT_NE(res.exit_code, 0);
    EXPECT_NE(res.err.find(b.message), std::string::npos) << res.err;
  }

  ASSERT_EQ(server.polarctl({"delete", "pdb", "kw"}).exit_code, 0);
  p = server.polarctl({"wait", "pdb/kw", "--for=delete", "--timeout=120s"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, "polardbcluster.polarstack.io/kw deleted\n");
  EXPECT_TRUE(get_cluster(server, "kw").is_null());
}

// Deleted and applied again under the same name (polarctl down --delete, then up.sh): the
// earlier cluster's finished operations hold the names the new one's derive
// (<name>-create-g1); they are removed with an event and the new cluster is created,
// instead of waiting in Creating forever.
TEST(ConventionsTest, ADeletedClusterAppliedAgainIsCreatedAgain) {
  ServerProcess server("", kClusters);
  const std::string file = server.write("again.yaml", apply_yaml("again", 0));
  ASSERT_EQ(server.polarctl({"apply", "-f", file}).exit_code, 0);
  auto r = server.polarctl({"wait", "pdb/again", "--for=condition=Ready", "--timeout=180s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string first_uid = core::string_at(get_cluster(server, "again"), "metadata.uid");
  ASSERT_EQ(server.polarctl({"delete", "pdb", "again", "--wait"}).exit_code, 0);
  ASSERT_EQ(server.polarctl({"apply", "-f", file}).exit_code, 0);
  r = server.polarctl({"wait", "pdb/again", "--for=condition=Ready", "--timeout=180s"});
  ASSERT_EQ(r.exit_code, 0) << r.err << get_cluster(server, "again").dump(1);
  Json c = get_cluster(server, "again");
  EXPECT_NE(core::string_at(c, "metadata.uid"), first_uid);
  auto d = server.polarctl({"describe", "pdb", "again"});
  EXPECT_NE(d.out.find("StaleOperationRemoved"), std::string::npos) << d.out;
  ASSERT_EQ(server.polarctl({"delete", "pdb", "again", "--wait"}).exit_code, 0);
  EXPECT_TRUE(get_cluster(server, "again").is_null());
}

// A proxy killed with -9 leaves its redirect table behind, hijacking the ports the next
// cluster would get. The server sweeps it before it serves, and the cluster becomes
// Ready. Then an instance whose manager's port is hijacked after the fact (no sweep runs
// then) is named in an InstanceUnreachable condition with its address, an event and
// polarctl describe; once the rule goes, it is reachable and Ready again.
TEST(ConventionsTest, DeadProxysRulesAreSweptAndAnUnreachableInstanceSaysWhy) {
  if (!runtime::local::redirect_possible()) GTEST_SKIP() << "needs root and nftables (CI has both)";
  std::vector<int> next_ports;
  for (int p = 20000; p < 20999 && next_ports.size() < 8; ++p) {
    if (runtime::local::port_free(p)) next_ports.push_back(p);
  }
  ASSERT_EQ(next_ports.size(), 8u);
  StaleTable stale(next_ports, 20999);  // nothing listens on 20999: a hijacked port refuses
  ASSERT_TRUE(stale.ok && stale.present());

  ServerProcess server("", kClusters);
  EXPECT_FALSE(stale.present()) << "the server serves before sweeping a dead proxy's table";
  ASSERT_EQ(server.polarctl({"apply", "-f", server.write("h.yaml", apply_yaml("hj", 0))}).exit_code, 0);
  auto r = server.polarctl({"wait", "pdb/hj", "--for=condition=Ready", "--timeout=180s"});
  ASSERT_EQ(r.exit_code, 0) << r.err << get_cluster(server, "hj").dump(1);

  auto cfg = core::read_file(server.home() + "/data/nodes/local-1/default.hj/hj-0/instance.json");
  ASSERT_TRUE(cfg);
  int api_port = core::parse_json(*cfg).value_or(Json::object()).value("apiPort", 0);
  ASSERT_GT(api_port, 0);
  {
    LiveProxyLookalike owner;
    ASSERT_GT(owner.pid(), 0);
    StaleTable hijack({api_port}, 20999, owner.pid());
    ASSERT_TRUE(hijack.ok);
    const std::string want = "hj-0 at 127.0.0.1:" + std::to_string(api_port);
    bool kept = true;
    ASSERT_TRUE(wait_until([&] {
      kept = kept && hijack.present();
      if (!kept) return true;  // reported below
      Json u = condition_of(get_cluster(server, "hj"), "InstanceUnreachable");
      return u.value("status", "") == "True" && u.value("message", "").find(want) != std::string::npos;
    }, 60s)) << get_cluster(server, "hj").dump(1);
    ASSERT_TRUE(kept) << "the table of a live proxy was swept";
    Json c = get_cluster(server, "hj");
    EXPECT_EQ(condition_of(c, "InstanceUnreachable").value("reason", ""), "InstanceUnreachable");
    EXPECT_EQ(condition_of(c, "Ready").value("status", ""), "False") << c.dump(1);
    auto d = server.polarctl({"describe", "pdb", "hj"});
    EXPECT_NE(d.out.find("InstanceUnreachable"), std::string::npos) << d.out;
    EXPECT_NE(d.out.find(want), std::string::npos) << d.out;
    auto w = server.polarctl({"wait", "pdb/hj", "--for=condition=Ready", "--timeout=2s"});
    EXPECT_EQ(w.exit_code, 1);
    EXPECT_NE(w.err.find(want), std::string::npos) << "the wait's progress names the unreachable instance: " << w.err;
  }
  EXPECT_TRUE(wait_until([&] {
    Json c = get_cluster(server, "hj");
    return condition_of(c, "InstanceUnreachable").value("status", "") == "False" &&
           condition_of(c, "Ready").value("status", "") == "True";
  }, 60s)) << get_cluster(server, "hj").dump(1);
  ASSERT_EQ(server.polarctl({"delete", "pdb", "hj", "--wait"}).exit_code, 0);
}

}  // namespace
}  // namespace polarstack::testing
