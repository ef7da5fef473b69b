// Debian's kubectl against the embedded API server, with the kubeconfig it wrote:
// get (printer columns), describe, apply (with kubectl's own validation), patch, edit,
// delete, and the errors kubectl shows for invalid objects.
#include <gtest/gtest.h>


#include "support/harness.h"

namespace polarstack {
namespace {

using testing::RunResult;

std::string kubectl_path() {
  for (const char* p : {"/usr/bin/kubectl", "/usr/local/bin/kubectl"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(kubectl_path().empty()) << "kubectl is not installed (scripts/install-deps.sh installs it)";
  }
  RunResult kubectl(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), kubectl_path());
    env["KUBECONFIG"] = server_.kubeconfig();
    env["HOME"] = server_.home();  // kubectl's discovery cache stays in the test's directory
    return testing::run(args, env);
  }
  std::string write(const std::string& name, const std::string& text) { return server_.write(name, text); }
  testing::ServerProcess server_;
};

TEST_F(KubectlTest, GetDescribeApplyPatchEditDelete) {
  auto r = kubectl({"apply", "-f", testing::source_dir() + "/examples/cluster.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("polardbcluster.polarstack.io/demo created"), std::string::npos) << r.out;

  r = kubectl({"get", "polardbclusters"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("READERS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PHASE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("demo"), std::string::npos) << r.out;
  r = kubectl({"get", "pdb", "-o", "wide"});
  EXPECT_NE(r.out.find("OPERATION"), std::string::npos) << r.out;

  r = kubectl({"describe", "pdb", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Readers:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Events:"), std::string::npos) << r.out;

  r = kubectl({"patch", "pdb", "demo", "--type", "merge", "-p", R"({"spec":{"readers":3}})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = kubectl({"get", "pdb", "demo", "-o", "jsonpath={.spec.readers} {.metadata.generation}"});
  EXPECT_EQ(r.out, "3 2");

  // kubectl edit runs the editor as a program with the file as its last argument.
  r = kubectl({"edit", "pdb", "demo"}, {{"KUBE_EDITOR", "sed -i s/readers:.3/readers:\\ 5/"}});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  r = kubectl({"get", "pdb", "demo", "-o", "jsonpath={.spec.readers}"});
  EXPECT_EQ(r.out, "5");

  // Changing spec.replication is refused in this release (and changes nothing).
  std::string dropped = write("d.yaml", "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: demo\n"
                                        "spec:\n  readers: 1\n  replication:\n    mode: sync\n  parameters:\n    max_connections: \"200\"\n");
  r = kubectl({"apply", "-f", dropped});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("spec.replication: cannot be changed"), std::string::npos) << r.err;
  std::string changed = write("c.yaml", "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: demo\n"
                                        "spec:\n  readers: 1\n  parameters:\n    max_connections: \"200\"\n");
  r = kubectl({"apply", "-f", changed});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("configured"), std::string::npos) << r.out;
  r = kubectl({"get", "pdb", "demo", "-o", "jsonpath={.spec.readers}"});
  EXPECT_EQ(r.out, "1");

  r = kubectl({"delete", "pdb", "demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = kubectl({"get", "pdb", "demo"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
}

TEST_F(KubectlTest, InvalidObjectsAreRejectedWithTheirFields) {
  std::string bad = write("bad.yaml", "apiVersion: polarstack.io/v1\nkind: PolarDBCluster\nmetadata:\n  name: bad\n"
                                      "spec:\n  readers: 99\n");
  auto r = kubectl({"apply", "-f", bad});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("spec.readers"), std::string::npos) << r.err;
  r = kubectl({"create", "--validate=false", "-f", bad});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("spec.readers: must be between 0 and 15, got 99"), std::string::npos) << r.err;
  r = kubectl({"get", "pdb", "-o", "name"});
  EXPECT_EQ(r.out, "") << "nothing may be created";
}

TEST_F(KubectlTest, CoreKindsWork) {
  std::string cm = write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n");
  auto r = kubectl({"apply", "-f", cm});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = kubectl({"get", "configmap", "settings", "-o", "jsonpath={.data.a}"});
  EXPECT_EQ(r.out, "b");
  r = kubectl({"get", "namespaces"});
  EXPECT_NE(r.out.find("default"), std::string::npos) << r.out << r.err;
}

// kubectl's typed generators send protobuf bodies (the k8s\0 envelope): the server
// decodes them for Namespace, ConfigMap and Secret and answers in JSON.
TEST_F(KubectlTest, ImperativeCreateOfCoreKindsWorks) {
  auto r = kubectl({"create", "namespace", "team-a"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("namespace/team-a created"), std::string::npos) << r.out;
  r = kubectl({"get", "namespace", "team-a", "-o", "jsonpath={.metadata.name}"});
  EXPECT_EQ(r.out, "team-a") << r.err;

  r = kubectl({"create", "configmap", "settings", "-n", "team-a", "--from-literal=a=b", "--from-literal=c=d e"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("configmap/settings created"), std::string::npos) << r.out;
  r = kubectl({"get", "configmap", "settings", "-n", "team-a", "-o", "jsonpath={.data.a},{.data.c}"});
  EXPECT_EQ(r.out, "b,d e") << r.err;

  r = kubectl({"create", "secret", "generic", "login", "--from-literal=password=s3cr3t"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = kubectl({"get", "secret", "login", "-o", "jsonpath={.type} {.data.password}"});
  EXPECT_EQ(r.out, "Opaque czNjcjN0") << r.err;  // base64 of s3cr3t, as Kubernetes stores it

  r = kubectl({"create", "namespace", "team-a"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("AlreadyExists"), std::string::npos) << r.err;
  r = kubectl({"create", "namespace", "Bad_Name"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Bad_Name"), std::string::npos) << r.err;
  r = kubectl({"delete", "namespace", "team-a"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace polarstack
