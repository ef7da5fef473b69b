// The durable workflow engine. It knows nothing about databases: it advances Instances
// of Definitions one step attempt at a time and saves every transition through the
// InstanceStore port. It never blocks: a step that must wait returns wait(), and the
// caller (Runner, or a controller) calls advance() again when the instance is due or
// something it waits for happened.
//
// Not thread-safe per instance: one caller advances a given instance at a time.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "workflow/definition.h"

namespace polarstack::workflow {

// Time source, so tests can drive time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};
class SystemClock : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

inline constexpr std::chrono::seconds kWaitRecordEvery{10};

class Engine {
 public:
  Engine(InstanceStore& store, const Clock& clock, uint64_t seed = std::random_device{}());

  void define(Definition def);
  const Clock& clock() const { return clock_; }
  const Definition* find(const std::string& name) const;

  // A new run of `definition`, saved as Pending. kNotFound for an unknown definition.
  core::Result<Instance> start(const std::string& id, const std::string& definition, Context context = {});

  struct Progress {
    bool ran = false;                    // a step attempt ran
    std::optional<TimePoint> next;       // when to call again; nullopt: finished or needs a human
  };
  // Runs the current step once if the instance is due (next_run_at <= now) and not
  // stopped, saving before (attempt recorded) and after (result). A step that is waiting
  // and is asked again: its attempt is saved at most every kWaitRecordEvery (always the
  // first time in this process), and the same wait again is not saved at all (its
  // nextRunAt on record stays in the past, which only makes it due at once after a
  // restart). On a save error the
  // in-memory instance must be reloaded from the store before trying again.
  core::Result<Progress> advance(Instance& inst);

  // Interrupted or Failed -> Running, from the failed step (or step 0 if the
  // definition says so), with a fresh retry budget. kConflict in any other phase.
  core::Status resume(Instance& inst);
  // Stops the run. Before the point of no return without compensation: Cancelled at
  // once. With compensation steps: they run (as steps) and then Cancelled. Past the
  // point of no return without compensation: kConflict (it runs to completion).
  core::Status cancel(Instance& inst);
  // A newer spec replaces this run: allowed before the point of no return, or once the
  // run stopped for a human (Interrupted, Failed: the newer run converges from where it
  // stopped); kConflict while it runs past it. The run ends Cancelled, reason Superseded.
  core::Status supersede(Instance& inst);
  // True once the run has reached its point of no return.
  bool past_point_of_no_return(const Instance& inst) const;

  // The backoff before attempt `attempt + 1` after `attempt` failures (with jitter).
  std::chrono::milliseconds backoff(const RetryPolicy& p, int attempt);

 private:
  core::Status finish(Instance& inst, Phase phase, std::string reason, std::string message);

  InstanceStore& store_;
  const Clock& clock_;
  std::mt19937_64 rng_;
  std::map<std::string, Definition> defs_;
};

}  // namespace polarstack::workflow
