// Minor version upgrade on real PostgreSQL 15 builds side by side: Debian's 15.18 (the
// system's) and 15.20 unpacked by scripts/install-engine.sh from bookworm-security. Under
// a recording writer: every instance ends on the new build with one switchover and no
// acknowledged write lost; a build that does not start is rolled back at the first
// instance with PostgreSQL's words; bad versions are refused naming the field.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "support/harness.h"
#include "support/pg_cluster.h"

namespace polarstack::testing {
namespace {

using core::Json;
using namespace std::chrono_literals;

Json upgrade(const ServerProcess& server, const Cluster& c, int readers, const std::string& version) {
  return apply_and_wait_derived(server, c, cluster_yaml(c.name, readers, "  version: \"" + version + "\"\n"),
                                "upgrademinorversion");
}

// server_version on every instance, by name.
std::map<std::string, std::string> versions(const Cluster& c) {
  std::map<std::string, std::string> out;
  for (const auto& [n, port] : ports_of(c)) out[n] = c.value(port, "show server_version");
  return out;
}
bool all_on(const Cluster& c, const std::string& version) {
  auto v = versions(c);
  return !v.empty() && std::all_of(v.begin(), v.end(), [&](const auto& kv) { return kv.second.starts_with(version + " "); });
}

// "15.18": the system's build.
std::string versions_of_system() {
  auto r = run({"/usr/lib/postgresql/15/bin/postgres", "--version"});
  size_t at = r.out.find("(PostgreSQL) ");
  if (at == std::string::npos) return "";
  std::string v = r.out.substr(at + 13);
  return v.substr(0, v.find_first_not_of("0123456789."));
}

// A "build" whose postgres refuses to start (the other tools are the system's).
void install_broken_build(const std::string& data_root, const std::string& version) {
  std::string bin = data_root + "/engines/" + version + "/usr/lib/postgresql/15/bin";
  std::filesystem::create_directories(bin);
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql/15/bin")) {
    if (e.path().filename() != "postgres") std::filesystem::create_symlink(e.path(), bin + "/" + e.path().filename().string());
  }
  std::ofstream(bin + "/postgres") << "#!/bin/sh\n"
                                      "if [ \"$1\" = --version ]; then echo 'postgres (PostgreSQL) " + version + "'; exit 0; fi\n"
                                      "echo 'FATAL:  this build is broken on purpose (upgrade_test)' >&2\nexit 1\n";
  ::chmod((bin + "/postgres").c_str(), 0755);
  for (std::string d = bin; d.size() > data_root.size(); d = std::filesystem::path(d).parent_path().string()) {
    ::chmod(d.c_str(), 0755);
  }
}

TEST(UpgradeTest, RollingMinorUpgradeUnderLoadAndRollbackOfABuildThatDoesNotStart) {
  ServerProcess server("", kClusters);
  std::string data_root = server.home() + "/data";
  auto inst = run({source_dir() + "/scripts/install-engine.sh", "15.20", "--data-root", data_root}, {}, "", 600s);
  ASSERT_EQ(inst.exit_code, 0) << inst.out << inst.err;
  install_broken_build(data_root, "15.99");
  std::string system_version = versions_of_system();
  ASSERT_TRUE(wait_until([&] {
    auto e = server.polarctl({"engines"});
    return e.exit_code == 0 && e.out.find("15.20") != std::string::npos && e.out.find("15.99") != std::string::npos;
  }, 60s)) << server.polarctl({"engines"}).out << server.polarctl({"engines"}).err;
  auto listed = server.polarctl({"engines"});
  EXPECT_NE(listed.out.find(system_version), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("(system)"), std::string::npos) << listed.out;

  Cluster c{server, "mu"};
  ASSERT_EQ(server.polarctl({"apply", "-f", server.write("mu.yaml", cluster_yaml("mu", 2))}).exit_code, 0);
  ASSERT_TRUE(c.wait_ready(2)) << c.get().dump(1);
  EXPECT_TRUE(all_on(c, system_version)) << Json(versions(c)).dump();

  // Bad versions: refused naming spec.version, nothing stored.
  struct Bad {
    std::string version, says;
  };
  const std::vector<Bad> bad = {
      {"16", "major version 16 is not supported"},
      {"14.9", "major version 14 is not supported"},
      {"15.17", "PostgreSQL 15.17 is not installed (installed: " + system_version + ", 15.20, 15.99"},
      {"15.x", "must be 15 or 15.<minor>"},
  };
  int64_t gen = generation_of(c);
  for (const auto& b : bad) {
    SCOPED_TRACE(b.version);
    auto r = server.polarctl({"apply", "-f", server.write("bad.yaml", cluster_yaml("mu", 2, "  version: \"" + b.version + "\"\n"))});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("spec.version"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(b.says), std::string::npos) << r.err;
  }
  EXPECT_EQ(generation_of(c), gen) << "a refused version was stored";

  int rw = c.port("readWrite");
  ASSERT_TRUE(c.connect(rw)->exec("create table w (id int primary key)").has_value());
  Writer writer(c, rw);
  ASSERT_TRUE(wait_until([&] { return writer.acknowledged().size() >= 20; }, 30s));

  // 15.18 -> 15.20: replicas first, one switchover; every instance on 15.20.
  Json op = upgrade(server, c, 2, "15.20");
  ASSERT_EQ(core::string_at(op, "status.phase"), "Succeeded") << op.dump(1) << ops_shown(server);
  std::string target = core::string_at(op, "status.context.target");
  EXPECT_NE(target, "");
  EXPECT_EQ(events_of(server, "Promoted"), 1) << "exactly one switchover";
  ASSERT_TRUE(wait_until([&] { return c.ready(2, target); }, 60s)) << c.get().dump(1);
  EXPECT_TRUE(all_on(c, "15.20")) << Json(versions(c)).dump();
  EXPECT_TRUE(wait_until([&] {
    auto list = c.instances();
    return list.size() == 3 && std::all_of(list.begin(), list.end(), [](const Json& i) {
             return i.value("version", "").starts_with("15.20");
           });
  }, 30s)) << c.instances().dump(1);

  // A build that does not start: the first replica is rolled back to 15.20, the primary untouched.
  auto t0 = start_times(c);
  op = upgrade(server, c, 2, "15.99");
  ASSERT_EQ(core::string_at(op, "status.phase"), "Interrupted") << op.dump(1);
  EXPECT_EQ(core::string_at(op, "status.reason"), "ParametersRejected");
  std::string msg = core::string_at(op, "status.message");
  EXPECT_NE(msg.find("rolled back to its previous engine (PostgreSQL 15.20)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("broken on purpose"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fix spec.version"), std::string::npos) << msg;
  EXPECT_TRUE(wait_until([&] { return core::string_at(c.get(), "status.phase") == "Interrupted"; }, 30s))
      << "the cluster shows the interrupted operation";
  ASSERT_TRUE(wait_until([&] { return c.instances_ready(3, target); }, 60s)) << c.get().dump(1);
  EXPECT_TRUE(all_on(c, "15.20")) << Json(versions(c)).dump();
  EXPECT_EQ(start_times(c)[target], t0[target]) << "the primary was restarted";
  EXPECT_EQ(events_of(server, "Promoted"), 1);

  // Back to the system's build (a minor downgrade is allowed): replaces the interrupted run.
  op = upgrade(server, c, 2, "15");
  ASSERT_EQ(core::string_at(op, "status.phase"), "Succeeded") << op.dump(1) << ops_shown(server);
  ASSERT_TRUE(wait_until([&] { return c.ready(2); }, 60s)) << c.get().dump(1);
  EXPECT_TRUE(all_on(c, system_version)) << Json(versions(c)).dump();
  EXPECT_EQ(events_of(server, "Promoted"), 2);
  EXPECT_TRUE(wait_until([&] { return c.get()["status"].value("observedGeneration", 0) == generation_of(c); }, 30s));

  size_t at_done = writer.acknowledged().size();
  EXPECT_TRUE(wait_until([&] { return writer.acknowledged().size() >= at_done + 20; }, 60s)) << writer.last_error();
  writer.stop();
  auto acked = writer.acknowledged();
  EXPECT_EQ(count_present(c, rw, acked), std::to_string(acked.size())) << "acknowledged writes lost";
  std::printf("minor upgrades: %zu commits acknowledged, %d attempts failed (last error: %s)\n", acked.size(),
              writer.failures(), writer.last_error().c_str());
}

}  // namespace
}  // namespace polarstack::testing
