#include "cmd/polarstack/test_workflows.h"

namespace polarstack::cmd {

namespace {
using namespace std::chrono_literals;

// Waits until `hold` has passed since the step's first attempt.
workflow::Step hold(const std::string& name, std::chrono::milliseconds d) {
  return {name, [name, d](const workflow::StepInput& in) {
            for (const auto& s : in.instance.active()) {
              if (s.name != name) continue;
              auto left = s.started_at + d - std::chrono::system_clock::now();
              if (left <= 0ms) return workflow::StepResult::done({{name, "held"}});
              return workflow::StepResult::wait("holding " + name,
                                                std::chrono::duration_cast<std::chrono::milliseconds>(left) + 1ms);
            }
            return workflow::StepResult::done();
          }};
}
}  // namespace

void register_test_workflows(workflow::Engine& engine) {
  workflow::Definition restart{"RestartCluster", {hold("hold-1", 300ms), hold("hold-2", 300ms), hold("hold-3", 300ms)}, 3};
  restart.retry.max_attempts = 2;
  restart.retry.initial_backoff = 50ms;
  engine.define(restart);
  workflow::Definition rebuild{"RebuildInstance", {hold("prepare", 100ms), hold("copy-data", 1h)}, 1};
  rebuild.compensation = {hold("clean-up", 100ms)};
  engine.define(rebuild);
}

}  // namespace polarstack::cmd
