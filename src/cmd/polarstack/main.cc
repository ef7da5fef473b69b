// polarstack: the control plane binary.
//   polarstack server [--home DIR] [--port N]   embedded API server (local mode)
//   polarstack stop [--home DIR]                stop a server started from DIR
//   polarstack crds                             print the CustomResourceDefinitions
//   polarstack proxy --dir DIR                  endpoints proxy of a cluster (started by the local runtime)
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <thread>

#include "api/crd.h"
#include "api/operation.h"
#include "apiserver/cluster_admission.h"
#include "apiserver/credentials.h"
#include "apiserver/http_server.h"
#include "apiserver/resources.h"
#include "apiserver/tls.h"
#include "cmd/polarstack/operator_loop.h"
#include "core/files.h"
#include "core/log.h"
#include "ha/cm.h"
#include "instance/engines.h"
#include "api/instance_class.h"
#include "runtime/local/cgroups.h"
#include "kube/cluster_api.h"
#include "kube/config.h"
#include "runtime/local/local_runtime.h"
#include "runtime/local/proxy.h"

namespace ps = polarstack;

namespace {

constexpr int kDefaultPort = 7443;

const char* kUsage = R"(usage: polarstack <command> [flags]

commands:
  server   run the embedded API server (local mode)
             --home DIR   state directory (default $POLARSTACK_HOME or ~/.polarstack)
             --port N     port on 127.0.0.1 (default $POLARSTACK_PORT or 7443; 0 = any free port)
             --operation-history N   finished PolarDBOperations kept per cluster (default 20)
             --data-root DIR   where databases live (default /var/lib/polarstack as root,
                               else HOME/data); must be reachable by the postgres user as root
             --node NAME=LOW-HIGH[@ADDRESS][:/root]   a local node and its port range;
                               repeatable (default local-1=20000-20999); @ADDRESS (root
                               only): the node gets a network namespace of its own with
                               that IPv4 address, all such nodes in one /24
                               (docs/architecture.md, "Node networks")
             --endpoint-mode auto|redirect|relay   how endpoints reach the databases:
                               a kernel redirect (nftables, root only), the proxy's
                               relay, or redirect when possible (default auto;
                               $POLARSTACK_ENDPOINT_MODE)
  stop     stop the server started from --home DIR (by the PID it recorded)
             --all        also stop every database and proxy it started (data is kept;
                          the next server start brings them back)
  crds     print the CustomResourceDefinitions (deploy/crds/polarstack.yaml)
  cm --dir DIR         run the Cluster Manager of DIR (the local runtime starts these)
  proxy --dir DIR      run the endpoints proxy of DIR (the local runtime starts these;
                       instance managers are the separate, leaner polarstack-instance)
)";

struct Flags {
  std::string home = ps::core::polarstack_home();
  int port = kDefaultPort;
  size_t operation_history = 20;
  std::string data_root;
  std::vector<ps::runtime::local::Node> nodes;
  std::string dir;
  bool all = false;
  std::string endpoint_mode = "auto";
};

ps::core::Result<Flags> parse_flags(int argc, char** argv) {
  Flags f;
  if (const char* p = std::getenv("POLARSTACK_PORT"); p && *p) f.port = std::atoi(p);
  if (const char* m = std::getenv("POLARSTACK_ENDPOINT_MODE"); m && *m) f.endpoint_mode = m;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> ps::core::Result<std::string> {
      if (i + 1 >= argc) return ps::core::fail(ps::core::Code::kBadRequest, a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--home") {
      auto v = value();
      if (!v) return ps::core::fail(v.error());
      f.home = *v;
    } else if (a == "--port") {
      auto v = value();
      if (!v) return ps::core::fail(v.error());
      char* end = nullptr;
      long p = std::strtol(v->c_str(), &end, 10);
      if (*end || p < 0 || p > 65535) return ps::core::fail(ps::core::Code::kBadRequest, "--port: must be 0..65535, got " + *v);
      f.port = static_cast<int>(p);
    } else if (a == "--operation-history") {
      auto v = value();
      if (!v) return ps::core::fail(v.error());
      char* end = nullptr;
      long n = std::strtol(v->c_str(), &end, 10);
      if (*end || n < 1 || n > 10000) {
        return ps::core::fail(ps::core::Code::kBadRequest, "--operation-history: must be 1..10000, got " + *v);
      }
      f.operation_history = static_cast<size_t>(n);
    } else if (a == "--data-root" || a == "--dir") {
      auto v = value();
      if (!v) return ps::core::fail(v.error());
      (a == "--dir" ? f.dir : f.data_root) = *v;
    } else if (a == "--all") {
      f.all = true;
    } else if (a == "--node") {
      auto v = value();
      if (!v) return ps::core::fail(v.error());
      auto n = ps::runtime::local::parse_node(*v);
      if (!n) return ps::core::fail(n.error());
      f.nodes.push_back(*n);
    } else if (a == "--endpoint-mode") {
      auto v = value();
      if (!v) return ps::core::fail(v.error());
      f.endpoint_mode = *v;
    } else {
      return ps::core::fail(ps::core::Code::kBadRequest, "unknown flag " + a);
    }
  }
  if (f.endpoint_mode != "auto" && f.endpoint_mode != "redirect" && f.endpoint_mode != "relay") {
    return ps::core::fail(ps::core::Code::kBadRequest,
                          "--endpoint-mode: must be auto, redirect or relay, got \"" + f.endpoint_mode + "\"");
  }
  return f;
}

// The Cluster Manager of one cluster (started by the local runtime; see ha/cm.h).
int run_cm(const std::string& dir) {
  using namespace ps;
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  auto text = core::read_file(dir + "/cm.json");
  auto cfg = text ? core::parse_json(*text) : core::Result<core::Json>(std::unexpected(text.error()));
  if (!cfg || !cfg->is_object()) {
    core::log_error("cm", "cannot read " + dir + "/cm.json");
    return 2;
  }
  auto opts = runtime::local::LocalRuntime::options_from_json(cfg->value("runtime", core::Json::object()));
  if (!opts) {
    core::log_error("cm", opts.error().message);
    return 2;
  }
  auto rt = runtime::local::LocalRuntime::open(*opts);
  if (!rt) {
    core::log_error("cm", rt.error().message);
    return 2;
  }
  // The API may be down or move (a server restarted on another port): the CM works on
  // without it and follows the kubeconfig file.
  kube::KubeconfigClusterApi api(cfg->value("kubeconfig", ""), "polarstack-cm");
  api.set_keep_alive(false);  // it calls every few seconds: no idle connection held on the server
  ha::ClusterManager cm(**rt, api, {cfg->value("namespace", "default"), cfg->value("cluster", "")}, dir);
  std::atomic<bool> stop{false};
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    stop = true;
  });
  int rc = cm.run(stop);
  if (!stop.load()) pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return rc;
}

// The ConfigMap default/polarstack-engines: data.versions "15.18,15.20" and, per
// version, where its binaries are ("... (system)" for Debian's package).
void publish_engines(ps::kube::Client& c, const std::string& data_root) {
  static const ps::kube::ResourceRef configmaps{"", "v1", "configmaps", "ConfigMap", true};
  ps::core::Json data = ps::core::Json::object();
  std::string versions;
  for (const auto& e : ps::instance::installed_engines(data_root)) {
    versions += (versions.empty() ? "" : ",") + e.version;
    data[e.version] = e.bin_dir + (e.system ? " (system)" : "");
  }
  data["versions"] = versions;
  auto have = c.get(configmaps, "default", "polarstack-engines");
  if (have && have->value("data", ps::core::Json::object()) == data) return;
  ps::core::Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                   {"metadata", {{"name", "polarstack-engines"}, {"namespace", "default"},
                                 {"labels", {{"app.kubernetes.io/managed-by", "polarstack"}}}}},
                   {"data", data}};
  auto r = have ? c.update(configmaps, "default", (cm["metadata"]["resourceVersion"] = ps::core::string_at(*have, "metadata.resourceVersion"), cm))
                : c.create(configmaps, "default", cm);
  if (!r) ps::core::log_warn("server", "cannot publish the installed engines: " + r.error().message);
  else ps::core::log_info("server", "PostgreSQL builds installed: " + versions);
}

// The instance classes ConfigMap of the default namespace, when there is none.
void ensure_default_classes(ps::kube::Client& c) {
  static const ps::kube::ResourceRef configmaps{"", "v1", "configmaps", "ConfigMap", true};
  ps::core::Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                       {"metadata", {{"name", ps::api::kClassesConfigMap}, {"namespace", "default"},
                                     {"labels", {{"app.kubernetes.io/managed-by", "polarstack"}}}}},
                       {"data", ps::api::default_classes()}};
  auto r = c.create(configmaps, "default", cm);
  if (!r && r.error().code != ps::core::Code::kAlreadyExists) {
    ps::core::log_warn("server", "cannot create the default instance classes: " + r.error().message);
  }
}

int run_server(const Flags& f) {
  using namespace ps;
  ::umask(077);  // the state database will hold secrets: owner only
  // SIGTERM and SIGINT are taken by sigwait() below; every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (auto st = core::ensure_dir(f.home, 0700); !st) {
    core::log_error("server", st.error().message);
    return 1;
  }
  auto token = apiserver::load_or_create_token(f.home + "/token");
  if (!token) {
    core::log_error("server", token.error().message);
    return 1;
  }
  auto store = apiserver::Store::open({f.home + "/state.db"});
  if (!store) {
    core::log_error("server", store.error().message);
    return 1;
  }
  // The default namespace exists from the first start, as in Kubernetes.
  {
    apiserver::Registry reg;
    apiserver::Resources res(**store);
    const auto* ns_type = reg.find("", "v1", "namespaces");
    if (!res.get(*ns_type, "", "default")) {
      res.create(*ns_type, "", {{"metadata", {{"name", "default"}}}});
    }
  }
  auto tls = apiserver::ensure_tls(f.home);
  if (!tls) {
    core::log_error("server", tls.error().message);
    return 1;
  }
  apiserver::ApiServer server(**store, {"127.0.0.1", f.port, *token, 256, tls->cert_path, tls->key_path});
  auto port = server.bind();
  if (!port) {
    core::log_error("server", port.error().message);
    return 1;
  }
  // The runtime (its nodes' namespaces and links, and the sweep of dead proxies' rules)
  // is ready before the API is served: whoever sees the kubeconfig can use all of it.
  runtime::local::Options ro;
  ro.data_root = f.data_root.empty() ? runtime::local::default_data_root(f.home) : f.data_root;
  ro.nodes = f.nodes.empty() ? std::vector<runtime::local::Node>{{"local-1", "", 20000, 20999}} : f.nodes;
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  ro.self_exe = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "polarstack";
  ro.kubeconfig = f.home + "/kubeconfig";
  ro.endpoint_mode = f.endpoint_mode;
  auto rt = runtime::local::LocalRuntime::open(ro);
  if (!rt) {
    core::log_error("server", rt.error().message);
    return 1;
  }
  core::write_file_atomic(f.home + "/runtime.json", runtime::local::LocalRuntime::options_json(ro).dump(1) + "\n");
  std::string url = "https://127.0.0.1:" + std::to_string(*port);
  if (auto st = apiserver::write_kubeconfig(f.home + "/kubeconfig", url, *token, tls->ca_pem); !st) {
    core::log_error("server", st.error().message);
    return 1;
  }
  core::write_file_atomic(f.home + "/server.pid", std::to_string(getpid()) + "\n", 0600);
  core::log_info("server", "serving the API on " + url + " (state in " + f.home + ", kubeconfig " + f.home + "/kubeconfig)");
  std::thread api_thread([&] { server.serve(); });
  // The operator is a client of the API like any other, over HTTPS with the token.
  kube::ClientConfig self{url, "default", *token, tls->ca_pem};
  core::log_info("server", "databases live in " + ro.data_root);
  const char* tw = std::getenv("POLARSTACK_TEST_WORKFLOWS");
  api::accept_unimplemented_operation_types(tw && std::string(tw) == "1");  // the test workflows implement them
  const char* cc = std::getenv("POLARSTACK_CLUSTER_CONTROLLER");
  bool cluster_controller = !(cc && std::string(cc) == "off");
  if (!cluster_controller) core::log_warn("server", "POLARSTACK_CLUSTER_CONTROLLER=off: PolarDBClusters are stored but not acted on");
  // Admission checks spec.version against the builds installed now (scripts/install-engine.sh
  // adds one without a restart), and polarctl engines reads them from a ConfigMap.
  std::string data_root = ro.data_root;
  apiserver::set_installed_engines([data_root] {
    std::vector<std::string> out;
    for (const auto& e : instance::installed_engines(data_root)) out.push_back(e.version);
    return out;
  });
  apiserver::set_limits_support([] { return runtime::local::limits_unsupported(); });
  kube::Client engines_client(self);
  engines_client.set_keep_alive(false);
  publish_engines(engines_client, data_root);
  ensure_default_classes(engines_client);
  cmd::OperatorLoop op(self, {f.operation_history, tw && std::string(tw) == "1", cluster_controller}, **rt);
  op.start();
  int sig = -1;
  while (sig < 0) {
    // Meanwhile, memory freed (old watch history, finished requests) goes back to the
    // system every half minute: glibc keeps it otherwise, and a server at rest should
    // not hold on to what a burst of writes once needed.
    struct timespec every {30, 0};
    sig = sigtimedwait(&stop_signals, nullptr, &every);
    if (sig < 0) {
      ::malloc_trim(0);
      publish_engines(engines_client, data_root);  // written only when the list changed
    }
  }
  core::log_info("server", std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
  op.stop();  // first the operator, so that its connections are closed
  server.stop();
  api_thread.join();
  ::unlink((f.home + "/server.pid").c_str());
  core::log_info("server", "stopped");
  return 0;
}

int run_stop(const Flags& f) {
  auto pid_text = ps::core::read_file(f.home + "/server.pid");
  if (!pid_text) {
    std::cerr << "no server is recorded in " << f.home << " (no server.pid)\n";
    return 1;
  }
  pid_t pid = static_cast<pid_t>(std::atol(pid_text->c_str()));
  // Only stop it if it is still a polarstack process: the PID may have been reused.
  auto cmdline = ps::core::read_file("/proc/" + std::to_string(pid) + "/cmdline");
  if (pid <= 0 || !cmdline || cmdline->find("polarstack") == std::string::npos) {
    std::cerr << "the server recorded in " << f.home << " (pid " << pid << ") is not running\n";
    ::unlink((f.home + "/server.pid").c_str());
    return 0;
  }
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (::kill(pid, 0) == 0) {
    std::cerr << "server " << pid << " did not stop within 10s\n";
    return 1;
  }
  std::cout << "stopped the polarstack server (pid " << pid << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // One malloc arena per thread is glibc's default: with many mostly idle threads it
  // multiplies resident memory for no gain in a control plane. One arena: at 50 idle
  // clusters the server's RSS was 30.0 MB with two, 29.3 MB with one (idle_bench).
  ::mallopt(M_ARENA_MAX, 1);
  if (argc < 2 || std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  if (cmd == "crds") {
    std::cout << ps::api::crds_yaml();
    return 0;
  }
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      std::cout << kUsage;
      return 0;
    }
  }
  auto flags = parse_flags(argc, argv);
  if (!flags) {
    std::cerr << "polarstack " << cmd << ": " << flags.error().message << "\n\n" << kUsage;
    return 2;
  }
  if (cmd == "server") return run_server(*flags);
  if (cmd == "proxy" || cmd == "cm") {
    if (flags->dir.empty()) {
      std::cerr << "polarstack " << cmd << ": --dir is required\n";
      return 2;
    }
    return cmd == "proxy" ? ps::runtime::local::run_proxy(flags->dir) : run_cm(flags->dir);
  }
  if (cmd == "stop") {
    int rc = run_stop(*flags);
    if (flags->all) {
      auto text = ps::core::read_file(flags->home + "/runtime.json");
      auto j = text ? ps::core::parse_json(*text) : ps::core::Result<ps::core::Json>(std::unexpected(text.error()));
      auto opts = j ? ps::runtime::local::LocalRuntime::options_from_json(*j) : std::unexpected(j.error());
      if (!opts) {
        std::cerr << "no databases recorded in " << flags->home << "/runtime.json\n";
        return rc;
      }
      int n = ps::runtime::local::LocalRuntime::stop_all(*opts);
      std::cout << "stopped " << n << " database and proxy processes (data kept in " << opts->data_root << ")\n";
    }
    return rc;
  }
  std::cerr << "polarstack: unknown command \"" << cmd << "\"\n\n" << kUsage;
  return 2;
}
