#include <gtest/gtest.h>

#include "apiserver/credentials.h"
#include "kube/config.h"

namespace polarstack::kube {
namespace {

TEST(Kubeconfig, WrittenConfigParsesBack) {
  std::string text = apiserver::render_kubeconfig("https://127.0.0.1:7443", "secret-token", "-----BEGIN CERT-----\nabc\n");
  auto cfg = parse_kubeconfig(text, "", ".");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://127.0.0.1:7443");
  EXPECT_EQ(cfg->token, "secret-token");
  EXPECT_EQ(cfg->ns, "default");
  EXPECT_EQ(cfg->ca_pem, "-----BEGIN CERT-----\nabc\n");
}

TEST(Kubeconfig, ContextsAndErrors) {
  const char* text = R"(apiVersion: v1
kind: Config
current-context: a
clusters:
- name: c1
  cluster: {server: "https://one:6443", insecure-skip-tls-verify: true}
- name: c2
  cluster: {server: "https://two:6443"}
users:
- name: u1
  user: {token: t1}
contexts:
- name: a
  context: {cluster: c1, user: u1, namespace: prod}
- name: b
  context: {cluster: c2, user: u1}
- name: broken
  context: {cluster: nope, user: u1}
)";
  auto a = parse_kubeconfig(text, "", ".");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->server, "https://one:6443");
  EXPECT_TRUE(a->insecure_skip_verify);
  EXPECT_EQ(a->ns, "prod");
  auto b = parse_kubeconfig(text, "b", ".");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->server, "https://two:6443");
  EXPECT_EQ(b->ns, "default");
  auto missing = parse_kubeconfig(text, "zzz", ".");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "context \"zzz\" not found in kubeconfig");
  auto broken = parse_kubeconfig(text, "broken", ".");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().message, "cluster \"nope\" not found in kubeconfig");
}

TEST(Kubeconfig, InClusterConfigReadsTheServiceAccount) {
  char dir[] = "/tmp/polarstack-sa-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string d = dir;
  FILE* f = fopen((d + "/token").c_str(), "w");
  fputs("sa-token\n", f);
  fclose(f);
  f = fopen((d + "/namespace").c_str(), "w");
  fputs("polar", f);
  fclose(f);
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto cfg = in_cluster_config(d);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  std::remove((d + "/token").c_str());
  std::remove((d + "/namespace").c_str());
  rmdir(dir);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://10.0.0.1:443");
  EXPECT_EQ(cfg->token, "sa-token");
  EXPECT_EQ(cfg->ns, "polar");
}

}  // namespace
}  // namespace polarstack::kube
