// Workflows for testing the operation machinery end to end (queueing, resume, cancel,
// history, crash recovery) before the real ones exist. Registered only when the server
// runs with POLARSTACK_TEST_WORKFLOWS=1 (then they replace the real RestartCluster, and
// admission accepts every operation type); never in normal use.
//
//   RestartCluster:  hold-1, hold-2, hold-3 — each waits 300 ms; retry budget 2
//   RebuildInstance: prepare (100 ms), copy-data (1 h, so it can be cancelled);
//                    compensation clean-up; point of no return: copy-data
#pragma once

#include "workflow/engine.h"

namespace polarstack::cmd {

void register_test_workflows(workflow::Engine& engine);

}  // namespace polarstack::cmd
