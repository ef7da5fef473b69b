#include "cmd/polarstack/operator_loop.h"

#include "cluster/cluster_controller.h"
#include "cluster/operation_controller.h"
#include "cluster/workflows.h"
#include "cmd/polarstack/test_workflows.h"
#include "core/log.h"
#include "kube/cluster_api.h"
#include "kube/informer.h"

namespace polarstack::cmd {

OperatorLoop::OperatorLoop(kube::ClientConfig cfg, OperatorOptions opts, runtime::Runtime& rt)
    : cfg_(std::move(cfg)), opts_(opts), rt_(rt) {}

OperatorLoop::~OperatorLoop() { stop(); }

void OperatorLoop::start() {
  thread_ = std::thread([this] { run(); });
}

void OperatorLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

namespace {
constexpr std::chrono::milliseconds kObserveAtRest{2000};
}  // namespace

void OperatorLoop::run() {
  kube::Client client(cfg_);
  kube::Client watch_client(cfg_);
  kube::KubeClusterApi api(client);
  cluster::OperationStore store(api);
  workflow::SystemClock clock;
  workflow::Engine engine(store, clock);
  cluster::register_cluster_workflows(engine, api, rt_);
  if (opts_.test_workflows) {  // after the real ones: they replace RestartCluster
    register_test_workflows(engine);
    core::log_warn("operator", "test workflows are registered (POLARSTACK_TEST_WORKFLOWS=1)");
  }
  cluster::OperationController controller(api, engine, store, {opts_.operation_history});
  cluster::ClusterController clusters_ctl(api, rt_, controller);
  kube::Client cluster_watch_client(cfg_);
  kube::Informer operations(watch_client, kube::operations_ref(), "");
  kube::Informer clusters(cluster_watch_client, kube::clusters_ref(), "");
  auto poke = [this](const std::string&, const core::Json&) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      dirty_ = true;
    }
    cv_.notify_all();
  };
  operations.on_change(poke);
  clusters.on_change(poke);
  operations.start();
  clusters.start();
  core::log_info("operator", "running");
  auto last_observe = std::chrono::steady_clock::now() - std::chrono::seconds(10);
  // Instances are probed every 2 s at rest (the Cluster Manager watches them far more
  // closely, and writes a failover to status itself), five times a second while a cluster
  // is in motion, so status (and the endpoints that follow it) catches up within 200 ms.
  auto observe_every = std::chrono::milliseconds(200);
  while (!stop_.load()) {
    std::optional<workflow::TimePoint> next;
    if (operations.wait_synced(std::chrono::milliseconds(100)) && clusters.wait_synced(std::chrono::milliseconds(100))) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        dirty_ = false;
      }
      if (opts_.cluster_controller) clusters_ctl.plan(clusters.list(), operations.list());
      next = controller.reconcile(operations.list());
      if (opts_.cluster_controller && std::chrono::steady_clock::now() - last_observe >= observe_every) {
        bool busy = clusters_ctl.observe(clusters.list());
        observe_every = busy ? std::chrono::milliseconds(200) : kObserveAtRest;
        last_observe = std::chrono::steady_clock::now();
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    // Probe instances even when nothing else happens.
    auto until = std::chrono::system_clock::now() +
                 (opts_.cluster_controller ? observe_every : kObserveAtRest);
    if (next && *next < until) until = *next;
    cv_.wait_until(lock, until, [&] { return dirty_ || stop_.load(); });
  }
  clusters.stop();
  operations.stop();
}

}  // namespace polarstack::cmd
