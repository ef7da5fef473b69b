#include "cmd/polarstack/operator_loop.h"

#include "cluster/operation_controller.h"
#include "cmd/polarstack/test_workflows.h"
#include "core/log.h"
#include "kube/cluster_api.h"
#include "kube/informer.h"

namespace polarstack::cmd {

OperatorLoop::OperatorLoop(kube::ClientConfig cfg, OperatorOptions opts) : cfg_(std::move(cfg)), opts_(opts) {}

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

void OperatorLoop::run() {
  kube::Client client(cfg_);
  kube::Client watch_client(cfg_);
  kube::KubeClusterApi api(client);
  cluster::OperationStore store(api);
  workflow::SystemClock clock;
  workflow::Engine engine(store, clock);
  if (opts_.test_workflows) {
    register_test_workflows(engine);
    core::log_warn("operator", "test workflows are registered (POLARSTACK_TEST_WORKFLOWS=1)");
  }
  cluster::OperationController controller(api, engine, store, {opts_.operation_history});
  kube::Informer operations(watch_client, kube::operations_ref(), "");
  operations.on_change([this](const std::string&, const core::Json&) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      dirty_ = true;
    }
    cv_.notify_all();
  });
  operations.start();
  core::log_info("operator", "running");
  while (!stop_.load()) {
    std::optional<workflow::TimePoint> next;
    if (operations.wait_synced(std::chrono::milliseconds(100))) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        dirty_ = false;
      }
      next = controller.reconcile(operations.list());
    }
    std::unique_lock<std::mutex> lock(mu_);
    auto until = std::chrono::system_clock::now() + std::chrono::seconds(10);  // resync
    if (next && *next < until) until = *next;
    cv_.wait_until(lock, until, [&] { return dirty_ || stop_.load(); });
  }
  operations.stop();
}

}  // namespace polarstack::cmd
