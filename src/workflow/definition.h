// What a workflow is: a name, an ordered list of named steps, a point of no return, a
// retry policy, and optional compensation steps run on cancel.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "workflow/instance.h"

namespace polarstack::workflow {

// What one attempt of a step decided.
struct StepResult {
  enum class Kind { kDone, kRetry, kWait, kInterrupt, kFail };
  Kind kind = Kind::kDone;
  Context outputs;                         // kDone: merged into the instance's context
  std::string error;                       // kRetry: the transient error
  std::string reason;                      // kInterrupt/kFail: typed reason
  std::string message;                     // kWait: what it waits for; kInterrupt/kFail: detail
  std::chrono::milliseconds recheck{0};    // kWait: evaluate again after this (or when poked)

  static StepResult done(Context outputs = {}) { return {Kind::kDone, std::move(outputs), "", "", "", {}}; }
  static StepResult retry(std::string error) { return {Kind::kRetry, {}, std::move(error), "", "", {}}; }
  // Waiting costs no retry budget; the step runs again after `recheck` or on poke().
  static StepResult wait(std::string what, std::chrono::milliseconds recheck) {
    return {Kind::kWait, {}, "", "", std::move(what), recheck};
  }
  // Needs a human: the workflow stops as Interrupted until resumed or cancelled.
  static StepResult interrupt(std::string reason, std::string message) {
    return {Kind::kInterrupt, {}, "", std::move(reason), std::move(message), {}};
  }
  // Cannot succeed (e.g. its target is gone): Failed; a human may still resume it.
  static StepResult fail(std::string reason, std::string message) {
    return {Kind::kFail, {}, "", std::move(reason), std::move(message), {}};
  }
};

// Given to a step: the instance's context so far and the attempt number (1-based).
struct StepInput {
  const Instance& instance;
  int attempt;
};

struct Step {
  std::string name;
  // Must be idempotent: the engine runs a step at least once, and again after a crash
  // that happened before its result was saved.
  std::function<StepResult(const StepInput&)> run;
};

struct RetryPolicy {
  int max_attempts = 5;                            // per step; resets when the step succeeds or is resumed
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  double multiplier = 2.0;
  double jitter = 0.2;                             // +-20% of each backoff
};

struct Definition {
  std::string name;
  std::vector<Step> steps;
  // Index of the first step from which the workflow must run to completion: before it
  // a newer spec may supersede the run; from it on newer changes wait. steps.size()
  // means never (always supersedable).
  size_t point_of_no_return = 0;
  bool resume_from_start = false;   // resume restarts at step 0 instead of the failed step
  std::vector<Step> compensation;   // run, in order, when a started run is cancelled
  RetryPolicy retry;
};

}  // namespace polarstack::workflow
