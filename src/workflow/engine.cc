#include "workflow/engine.h"

#include <algorithm>
#include <cmath>

#include "core/failpoints.h"

namespace polarstack::workflow {

using core::Code;
using core::fail;

Engine::Engine(InstanceStore& store, const Clock& clock, uint64_t seed) : store_(store), clock_(clock), rng_(seed) {}

void Engine::define(Definition def) {
  std::string name = def.name;
  defs_[name] = std::move(def);
}

const Definition* Engine::find(const std::string& name) const {
  auto it = defs_.find(name);
  return it == defs_.end() ? nullptr : &it->second;
}

core::Result<Instance> Engine::start(const std::string& id, const std::string& definition, Context context) {
  const Definition* def = find(definition);
  if (!def) return fail(Code::kNotFound, "no workflow named \"" + definition + "\"");
  Instance inst;
  inst.id = id;
  inst.definition = definition;
  inst.context = std::move(context);
  for (const auto& s : def->steps) inst.steps.push_back({s.name});
  inst.next_run_at = clock_.now();
  if (auto st = store_.save(inst); !st) return fail(st.error());
  return inst;
}

std::chrono::milliseconds Engine::backoff(const RetryPolicy& p, int attempt) {
  double base = static_cast<double>(p.initial_backoff.count()) * std::pow(p.multiplier, std::max(0, attempt - 1));
  base = std::min(base, static_cast<double>(p.max_backoff.count()));
  std::uniform_real_distribution<double> jitter(1.0 - p.jitter, 1.0 + p.jitter);
  return std::chrono::milliseconds(static_cast<int64_t>(base * jitter(rng_)));
}

core::Status Engine::finish(Instance& inst, Phase phase, std::string reason, std::string message) {
  inst.phase = phase;
  inst.reason = std::move(reason);
  inst.message = std::move(message);
  inst.finished_at = clock_.now();
  inst.next_run_at = {};
  return store_.save(inst);
}

core::Result<Engine::Progress> Engine::advance(Instance& inst) {
  if (inst.phase == Phase::kSucceeded || inst.phase == Phase::kCancelled || inst.phase == Phase::kFailed ||
      inst.phase == Phase::kInterrupted) {
    return Progress{false, std::nullopt};
  }
  const Definition* def = find(inst.definition);
  if (!def) {
    if (auto st = finish(inst, Phase::kFailed, "UnknownWorkflow", "no workflow named \"" + inst.definition + "\""); !st) {
      return fail(st.error());
    }
    return Progress{true, std::nullopt};
  }
  TimePoint now = clock_.now();
  if (inst.next_run_at > now) return Progress{false, inst.next_run_at};
  if (inst.started_at == TimePoint{}) inst.started_at = now;

  const std::vector<Step>& defs = inst.cancelling ? def->compensation : def->steps;
  size_t idx = inst.current();
  if (idx >= inst.active().size()) {
    auto st = inst.cancelling ? finish(inst, Phase::kCancelled, inst.reason.empty() ? "Cancelled" : inst.reason,
                                       "cancelled; compensation steps completed")
                              : finish(inst, Phase::kSucceeded, "Completed", "all steps completed");
    if (!st) return fail(st.error());
    return Progress{true, std::nullopt};
  }
  if (idx >= defs.size()) {
    auto st = finish(inst, Phase::kFailed, "DefinitionChanged",
                     "the run has more steps than workflow \"" + def->name + "\" defines");
    if (!st) return fail(st.error());
    return Progress{true, std::nullopt};
  }
  const Step& step = defs[idx];
  // Record the attempt before running it: a crash inside the step still counts, so a
  // step that kills the process every time ends up Interrupted instead of looping.
  // A step that waits is asked again and again (every recheck): it ran before and came
  // back, so its attempt is recorded at most every kWaitRecordEvery in this process (the
  // first time after a restart, always: a step that crashes the process is still
  // counted), and an answer that is the same wait is not written again.
  bool waiting_again = inst.active()[idx].state == StepState::kWaiting;
  bool record = !waiting_again || inst.wait_recorded_at == TimePoint{} || now - inst.wait_recorded_at >= kWaitRecordEvery;
  std::string waited_for = inst.message;
  {
    StepRecord& rec = inst.active()[idx];
    rec.state = StepState::kRunning;
    rec.attempts++;
    if (rec.started_at == TimePoint{}) rec.started_at = now;
    inst.phase = Phase::kRunning;
    if (record) {
      if (auto st = store_.save(inst); !st) return fail(st.error());
      if (waiting_again) inst.wait_recorded_at = now;
    }
  }
  int attempt = inst.active()[idx].attempts;
  StepResult result;
  if (core::Failpoints::global().fire("before:" + step.name) == core::Failpoints::Action::kFail) {
    result = StepResult::retry("failpoint before:" + step.name);
  } else {
    try {
      result = step.run(StepInput{inst, attempt});
    } catch (const std::exception& e) {
      result = StepResult::retry(std::string("exception: ") + e.what());
    } catch (...) {
      result = StepResult::retry("unknown exception");
    }
  }
  core::Failpoints::global().fire("after:" + step.name);

  now = clock_.now();
  StepRecord& rec = inst.active()[idx];
  Progress out{true, now};
  switch (result.kind) {
    case StepResult::Kind::kDone:
      rec.state = StepState::kDone;
      rec.finished_at = now;
      rec.last_error.clear();
      for (auto& [k, v] : result.outputs) inst.context[k] = v;
      inst.next_run_at = now;
      if (inst.reason != "Cancelling" && inst.reason != "Superseded") {
        inst.reason.clear();
        inst.message.clear();
      }
      if (inst.current() >= inst.active().size()) {
        auto st = inst.cancelling ? finish(inst, Phase::kCancelled, inst.reason == "Superseded" ? "Superseded" : "Cancelled",
                                           "cancelled; compensation steps completed")
                                  : finish(inst, Phase::kSucceeded, "Completed", "all steps completed");
        if (!st) return fail(st.error());
        return Progress{true, std::nullopt};
      }
      break;
    case StepResult::Kind::kRetry:
      rec.last_error = result.error;
      if (rec.attempts >= def->retry.max_attempts) {
        rec.state = StepState::kFailed;
        rec.finished_at = now;
        inst.phase = Phase::kInterrupted;
        inst.reason = "RetryBudgetExhausted";
        inst.message = "step " + step.name + " failed " + std::to_string(rec.attempts) + " times; last error: " + result.error;
        inst.next_run_at = {};
        out.next = std::nullopt;
      } else {
        rec.state = StepState::kPending;
        inst.next_run_at = now + backoff(def->retry, rec.attempts);
        out.next = inst.next_run_at;
      }
      break;
    case StepResult::Kind::kWait:
      rec.attempts--;  // waiting is not a failure: it costs no retry budget
      rec.state = StepState::kWaiting;
      inst.phase = Phase::kWaiting;
      inst.message = result.message;
      inst.next_run_at = now + result.recheck;
      out.next = inst.next_run_at;
      if (waiting_again && !record && result.message == waited_for) return out;  // as saved last time
      break;
    case StepResult::Kind::kInterrupt:
    case StepResult::Kind::kFail:
      rec.state = StepState::kFailed;
      rec.finished_at = now;
      rec.last_error = result.message;
      inst.phase = result.kind == StepResult::Kind::kInterrupt ? Phase::kInterrupted : Phase::kFailed;
      inst.reason = result.reason;
      inst.message = result.message;
      inst.next_run_at = {};
      out.next = std::nullopt;
      break;
  }
  if (auto st = store_.save(inst); !st) return fail(st.error());
  return out;
}

core::Status Engine::resume(Instance& inst) {
  if (inst.phase != Phase::kInterrupted && inst.phase != Phase::kFailed) {
    return fail(Code::kConflict, std::string("only an Interrupted or Failed run can be resumed; this one is ") +
                                     phase_name(inst.phase));
  }
  const Definition* def = find(inst.definition);
  if (!def) return fail(Code::kNotFound, "no workflow named \"" + inst.definition + "\"");
  if (def->resume_from_start && !inst.cancelling) {
    for (auto& s : inst.steps) s = StepRecord{s.name};
  } else {
    size_t idx = inst.current();
    if (idx < inst.active().size()) {
      auto& rec = inst.active()[idx];
      rec.state = StepState::kPending;
      rec.attempts = 0;  // a fresh retry budget
      rec.finished_at = {};
    }
  }
  inst.phase = Phase::kRunning;
  inst.reason = inst.cancelling ? "Cancelling" : "Resumed";
  inst.message = "";
  inst.finished_at = {};
  inst.next_run_at = clock_.now();
  return store_.save(inst);
}

bool Engine::past_point_of_no_return(const Instance& inst) const {
  const Definition* def = find(inst.definition);
  if (!def) return false;
  return inst.cancelling || inst.current() >= def->point_of_no_return;
}

core::Status Engine::cancel(Instance& inst) {
  if (is_finished(inst.phase)) {
    return fail(Code::kConflict, std::string("the run is already ") + phase_name(inst.phase));
  }
  if (inst.cancelling) return fail(Code::kConflict, "the run is already being cancelled");
  const Definition* def = find(inst.definition);
  bool stopped = inst.phase == Phase::kInterrupted || inst.phase == Phase::kFailed;
  bool has_compensation = def && !def->compensation.empty();
  if (def && !has_compensation && !stopped && past_point_of_no_return(inst)) {
    return fail(Code::kConflict, "the run is past its point of no return (step " +
                                     def->steps[std::min(def->point_of_no_return, def->steps.size() - 1)].name +
                                     ") and has no compensation steps: it runs to completion");
  }
  std::string at = inst.current() < inst.steps.size() ? inst.steps[inst.current()].name : "the end";
  for (auto& s : inst.steps) {
    if (s.state != StepState::kDone) s.state = StepState::kSkipped;
  }
  if (!has_compensation) return finish(inst, Phase::kCancelled, "Cancelled", "cancelled by request before " + at);
  inst.cancelling = true;
  inst.compensation.clear();
  for (const auto& s : def->compensation) inst.compensation.push_back({s.name});
  inst.phase = Phase::kRunning;
  inst.reason = "Cancelling";
  inst.message = "cancelled by request before " + at + "; running compensation steps";
  inst.next_run_at = clock_.now();
  return store_.save(inst);
}

core::Status Engine::supersede(Instance& inst) {
  if (is_finished(inst.phase)) return fail(Code::kConflict, std::string("the run is already ") + phase_name(inst.phase));
  bool stopped = inst.phase == Phase::kInterrupted || inst.phase == Phase::kFailed;
  if (past_point_of_no_return(inst) && !stopped) {
    return fail(Code::kConflict, "the run is past its point of no return: newer changes wait until it completes");
  }
  for (auto& s : inst.steps) {
    if (s.state != StepState::kDone) s.state = StepState::kSkipped;
  }
  return finish(inst, Phase::kCancelled, "Superseded",
                stopped ? "superseded by a newer spec while it waited for a human (" + inst.reason + ")"
                        : "superseded by a newer spec before its point of no return");
}

}  // namespace polarstack::workflow
