// kill -9 of the API server in the middle of a stream of writes loses no acknowledged
// write: after a restart every acknowledged object is there, with the content and
// resourceVersion the server acknowledged.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include <sys/stat.h>

#include "core/files.h"
#include "support/harness.h"

namespace polarstack {
namespace {

using core::Json;

const kube::ResourceRef kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};

TEST(Durability, SigkillDuringWritesLosesNoAcknowledgedWrite) {
  testing::ServerProcess server;
  ASSERT_TRUE(server.client()->request("GET", "/version")) << "server did not start";
  std::mt19937 rng(std::random_device{}());
  std::map<std::string, std::string> acknowledged;  // name -> resourceVersion
  int round_base = 0;
  for (int round = 0; round < 5; ++round) {
    auto client = server.client();
    std::atomic<bool> stop{false};
    std::atomic<int> acks{0};
    std::mutex mu;
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        kube::Client c(server.config());  // own connection per writer
        for (int i = 0; !stop.load(); ++i) {
          std::string name = "r" + std::to_string(round_base) + "-w" + std::to_string(w) + "-" + std::to_string(i);
          auto r = c.create(kConfigMaps, "default", {{"metadata", {{"name", name}}}, {"data", {{"i", std::to_string(i)}}}});
          if (!r) break;  // the server is gone
          std::lock_guard<std::mutex> lock(mu);
          acknowledged[name] = core::string_at(*r, "metadata.resourceVersion");
          acks++;
        }
      });
    }
    int kill_after = std::uniform_int_distribution<int>(50, 400)(rng);
    ASSERT_TRUE(testing::wait_until([&] { return acks.load() >= kill_after; }, std::chrono::seconds(60)));
    server.kill9();
    stop = true;
    for (auto& t : writers) t.join();
    round_base++;
    ASSERT_TRUE(server.start()) << "server did not restart";
    auto list = server.client()->list(kConfigMaps, "default");
    ASSERT_TRUE(list);
    std::map<std::string, std::string> stored;
    for (const auto& item : (*list)["items"]) {
      stored[core::string_at(item, "metadata.name")] = core::string_at(item, "metadata.resourceVersion");
    }
    std::lock_guard<std::mutex> lock(mu);
    size_t missing = 0;
    for (const auto& [name, rv] : acknowledged) {
      auto it = stored.find(name);
      if (it == stored.end()) {
        missing++;
        ADD_FAILURE() << "acknowledged write lost: " << name << " (resourceVersion " << rv << ")";
      } else {
        EXPECT_EQ(it->second, rv) << name;
      }
    }
    EXPECT_EQ(missing, 0u) << "round " << round << ": " << acknowledged.size() << " acknowledged";
  }
}

TEST(Durability, RestartServesTheSameObjectsAndRevision) {
  testing::ServerProcess server;
  auto c = server.client();
  ASSERT_TRUE(c->create(kube::clusters_ref(), "default",
                        {{"metadata", {{"name", "demo"}}}, {"spec", {{"readers", 2}}}}));
  auto before = c->get(kube::clusters_ref(), "default", "demo");
  ASSERT_TRUE(before);
  c.reset();
  server.stop();
  ASSERT_TRUE(server.start());
  auto after = server.client()->get(kube::clusters_ref(), "default", "demo");
  ASSERT_TRUE(after);
  EXPECT_EQ(*before, *after);
  auto token1 = core::read_file(server.home() + "/token");
  EXPECT_TRUE(token1);
  EXPECT_EQ(server.config().token + "\n", *token1) << "the token must survive restarts";
}

TEST(Durability, SecretsAreOwnerOnly) {
  testing::ServerProcess server;
  for (const char* f : {"/token", "/kubeconfig", "/server.key", "/state.db"}) {
    struct stat st;
    ASSERT_EQ(::stat((server.home() + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0077, 0u) << f << " must not be readable by group or others";
  }
}

}  // namespace
}  // namespace polarstack
