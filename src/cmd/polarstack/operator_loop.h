// The operator as it runs inside `polarstack server` (local mode): it talks to the API
// over HTTPS with the server's own kubeconfig, like any other client, watches
// PolarDBClusters and PolarDBOperations with informers, and on every pass plans the
// clusters (derived operations), runs the operation controller, and at most once a
// second probes the instances to keep cluster status current.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "kube/client.h"
#include "runtime/runtime.h"

namespace polarstack::cmd {

struct OperatorOptions {
  size_t operation_history = 20;
  bool test_workflows = false;  // POLARSTACK_TEST_WORKFLOWS=1: register the test-only workflows
  bool cluster_controller = true;  // POLARSTACK_CLUSTER_CONTROLLER=off: do not act on PolarDBClusters
};

class OperatorLoop {
 public:
  OperatorLoop(kube::ClientConfig cfg, OperatorOptions opts, runtime::Runtime& rt);
  ~OperatorLoop();
  void start();
  void stop();

 private:
  void run();
  kube::ClientConfig cfg_;
  OperatorOptions opts_;
  runtime::Runtime& rt_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;
  std::thread thread_;
};

}  // namespace polarstack::cmd
