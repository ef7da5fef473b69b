// Class change on real PostgreSQL 15 (root, cgroup v1 or v2): each instance's
// postmaster and backends sit in a cgroup of their own with the class's CPU quota and
// memory limit; memory sizes shared_buffers and friends unless spec.parameters sets
// them; a change rolls out replicas first with one switchover and no acknowledged write
// lost; bad classes are refused naming the field.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "support/harness.h"
#include "support/pg_cluster.h"

namespace polarstack::testing {
namespace {

using core::Json;
using namespace std::chrono_literals;

std::string with_resources(const std::string& name, const std::string& resources, const std::string& extra = "") {
  return cluster_yaml(name, 2, "  resources: " + resources + "\n" + extra);
}

Json change(const ServerProcess& server, const Cluster& c, const std::string& yaml) {
  return apply_and_wait_derived(server, c, yaml, "changeclass");
}

bool v2() { return std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers"); }
std::string group_file(const std::string& cluster, const std::string& instance, const std::string& controller,
                       const std::string& file) {
  std::string rel = "polarstack/default." + cluster + "/" + instance + "/" + file;
  return v2() ? "/sys/fs/cgroup/" + rel : "/sys/fs/cgroup/" + controller + "/" + rel;
}
std::string read_trimmed(const std::string& path) { return core::trim_right(core::read_file(path).value_or("")); }

std::string memory_limit(const std::string& cluster, const std::string& instance) {
  return read_trimmed(group_file(cluster, instance, "memory", v2() ? "memory.max" : "memory.limit_in_bytes"));
}
// CFS quota per 100 ms period, in microseconds.
std::string cpu_quota(const std::string& cluster, const std::string& instance) {
  std::string v = read_trimmed(group_file(cluster, instance, "cpu", v2() ? "cpu.max" : "cpu.cfs_quota_us"));
  return v2() ? v.substr(0, v.find(' ')) : v;
}
bool in_group(const std::string& cluster, const std::string& instance, int pid) {
  for (const char* controller : {"cpu", "memory"}) {
    std::string procs = core::read_file(group_file(cluster, instance, controller, "cgroup.procs")).value_or("");
    if (("\n" + procs).find("\n" + std::to_string(pid) + "\n") == std::string::npos) return false;
    if (v2()) break;
  }
  return true;
}

// Every instance: limits as given, its postmaster and a backend in its cgroup, and the
// parameter shown.
void expect_class(const Cluster& c, const std::string& memory_bytes, const std::string& quota,
                  const std::string& shared_buffers) {
  for (const auto& [name, port] : ports_of(c)) {
    SCOPED_TRACE(name);
    EXPECT_EQ(memory_limit(c.name, name), memory_bytes);
    EXPECT_EQ(cpu_quota(c.name, name), quota);
    int pm = postmaster_of(c, port);
    EXPECT_GT(pm, 0);
    EXPECT_TRUE(in_group(c.name, name, pm)) << "postmaster " << pm;
    int backend = std::atoi(c.value(port, "select pg_backend_pid()").c_str());
    EXPECT_TRUE(in_group(c.name, name, backend)) << "backend " << backend;
    EXPECT_EQ(c.value(port, "show shared_buffers"), shared_buffers);
  }
}

TEST(ClassTest, ClassChangeUnderLoadSetsCgroupLimitsAndMemoryParametersWithOneSwitchover) {
  ServerProcess server("", kClusters);
  Cluster c{server, "cc"};
  if (::geteuid() != 0) {
    // Limits need root (cgroups): here spec.resources is refused, saying why, and nothing
    // is stored. (CI runs as root, and so the rest of this test.)
    auto r = server.polarctl({"apply", "-f", server.write("cc.yaml", with_resources("cc", "{cpu: \"1\", memory: 1Gi}"))});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("spec.resources: cannot be enforced here: CPU and memory limits need root"), std::string::npos) << r.err;
    EXPECT_TRUE(c.get().is_null()) << "a refused cluster was stored";
    return;
  }
  ASSERT_EQ(server.polarctl({"apply", "-f", server.write("cc.yaml", with_resources("cc", "{cpu: \"1\", memory: 1Gi}"))}).exit_code, 0);
  ASSERT_TRUE(c.wait_ready(2)) << c.get().dump(1);
  expect_class(c, "1073741824", "100000", "256MB");
  EXPECT_TRUE(wait_until([&] {
    auto list = c.instances();
    return list.size() == 3 && std::all_of(list.begin(), list.end(), [](const Json& i) {
             return i.value("cpu", "") == "1" && i.value("memory", "") == "1Gi";
           });
  }, 30s)) << c.instances().dump(1);

  // Bad input: refused naming the field, nothing stored.
  struct Bad {
    std::string resources, field, says;
  };
  const std::vector<Bad> bad = {
      {"{class: polar.pg.nope}", "spec.resources.class", "no instance class \"polar.pg.nope\" in ConfigMap default/polarstack-instance-classes (classes: polar.pg.x1.small"},
      {"{class: polar.pg.x2.medium, cpu: \"2\"}", "spec.resources.class", "cannot be set together with spec.resources.cpu"},
      {"{memory: 100Mi}", "spec.resources.memory", "must be at least 256Mi"},
      {"{cpu: 10m}", "spec.resources.cpu", "must be at least 100m"},
      {"{cpu: lots}", "spec.resources.cpu", "must be a quantity"},
  };
  int64_t gen = generation_of(c);
  for (const auto& b : bad) {
    SCOPED_TRACE(b.resources);
    auto r = server.polarctl({"apply", "-f", server.write("bad.yaml", with_resources("cc", b.resources))});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(b.field), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(b.says), std::string::npos) << r.err;
  }
  EXPECT_EQ(generation_of(c), gen) << "a refused class was stored";

  int rw = c.port("readWrite");
  ASSERT_TRUE(c.connect(rw)->exec("create table w (id int primary key)").has_value());
  Writer writer(c, rw);
  ASSERT_TRUE(wait_until([&] { return writer.acknowledged().size() >= 20; }, 30s));

  // A named class: 2 CPUs, 4Gi; shared_buffers follows (1GB); one switchover.
  Json op = change(server, c, with_resources("cc", "{class: polar.pg.x2.medium}"));
  ASSERT_EQ(core::string_at(op, "status.phase"), "Succeeded") << op.dump(1) << ops_shown(server);
  std::string target = core::string_at(op, "status.context.target");
  EXPECT_NE(target, "");
  EXPECT_EQ(events_of(server, "Promoted"), 1) << "exactly one switchover";
  ASSERT_TRUE(wait_until([&] { return c.ready(2, target); }, 60s)) << c.get().dump(1);
  expect_class(c, std::to_string(int64_t{4} << 30), "200000", "1GB");

  // Explicit, with a parameter of the user's that wins over the class's sizing.
  op = change(server, c, with_resources("cc", "{cpu: 500m, memory: 1Gi}", "  parameters:\n    shared_buffers: \"128MB\"\n"));
  ASSERT_EQ(core::string_at(op, "status.phase"), "Succeeded") << op.dump(1) << ops_shown(server);
  EXPECT_EQ(events_of(server, "Promoted"), 2);
  target = core::string_at(op, "status.context.target");
  ASSERT_TRUE(wait_until([&] { return c.ready(2, target); }, 60s)) << c.get().dump(1);
  expect_class(c, "1073741824", "50000", "128MB");
  auto ports = ports_of(c);
  EXPECT_EQ(c.value(ports[target], "show effective_cache_size"), "768MB");

  size_t at_done = writer.acknowledged().size();
  EXPECT_TRUE(wait_until([&] { return writer.acknowledged().size() >= at_done + 20; }, 60s)) << writer.last_error();
  writer.stop();
  auto acked = writer.acknowledged();
  EXPECT_EQ(count_present(c, rw, acked), std::to_string(acked.size())) << "acknowledged writes lost";

  // Deleted: its cgroups go with it.
  ASSERT_EQ(server.polarctl({"delete", "pdb", "cc", "--wait"}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return !std::filesystem::exists(group_file("cc", "cc-0", "memory", "")); }, 60s));
}

}  // namespace
}  // namespace polarstack::testing
