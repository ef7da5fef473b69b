// The workflow engine with fake steps, a fake clock and an in-memory store.
#include <gtest/gtest.h>

#include "workflow/codec.h"
#include "workflow/engine.h"
#include "core/failpoints.h"
#include "workflow/runner.h"
#include "support/workflow_fakes.h"

namespace polarstack::workflow {
namespace {

using namespace std::chrono_literals;
using core::Failpoints;

using testing::FakeClock;
using testing::MemoryStore;

Step step(const std::string& name, std::function<StepResult(const StepInput&)> fn) { return {name, std::move(fn)}; }
Step ok(const std::string& name, Context out = {}) {
  return step(name, [out](const StepInput&) { return StepResult::done(out); });
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : engine_(store_, clock_, 42) {}
  // Advances until the instance stops (finished or needs a human), moving the clock to
  // each next time. Bounded so a bug cannot loop forever.
  void drive(Instance& inst, int max_steps = 100) {
    for (int i = 0; i < max_steps; ++i) {
      auto p = engine_.advance(inst);
      ASSERT_TRUE(p) << p.error().message;
      if (!p->next) return;
      if (*p->next > clock_.now()) clock_.set(*p->next);
    }
    FAIL() << "workflow did not stop within " << max_steps << " advances";
  }
  FakeClock clock_;
  MemoryStore store_;
  Engine engine_;
};

TEST_F(EngineTest, RunsStepsInOrderMergesOutputsAndSavesEveryTransition) {
  std::vector<std::string> order;
  engine_.define({"wf", {step("a", [&](const StepInput&) { order.push_back("a"); return StepResult::done({{"x", "1"}}); }),
                         step("b", [&](const StepInput& in) {
                           order.push_back("b:" + in.instance.context.at("x"));
                           return StepResult::done({{"y", "2"}});
                         })}, 2});
  auto inst = engine_.start("op1", "wf");
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->phase, Phase::kPending);
  drive(*inst);
  EXPECT_EQ(inst->phase, Phase::kSucceeded);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b:1"}));
  EXPECT_EQ(inst->context, (Context{{"x", "1"}, {"y", "2"}}));
  EXPECT_EQ(inst->steps[0].state, StepState::kDone);
  EXPECT_EQ(inst->steps[1].attempts, 1);
  // start + (attempt recorded, result saved) per step + final.
  EXPECT_GE(store_.saves_, 5);
  EXPECT_EQ(store_.last_["op1"].phase, Phase::kSucceeded);
}

TEST_F(EngineTest, TransientErrorsRetryWithExponentialBackoffAndJitter) {
  int calls = 0;
  Definition def{"wf", {step("flaky", [&](const StepInput&) {
                   return ++calls < 3 ? StepResult::retry("connection refused") : StepResult::done();
                 })}, 1};
  def.retry.initial_backoff = 1000ms;
  def.retry.multiplier = 2;
  def.retry.jitter = 0.2;
  engine_.define(def);
  auto inst = engine_.start("op", "wf");
  auto t0 = clock_.now();
  auto p = engine_.advance(*inst);
  ASSERT_TRUE(p && p->next);
  auto first = *p->next - t0;
  EXPECT_GE(first, 800ms);
  EXPECT_LE(first, 1200ms);
  EXPECT_EQ(inst->steps[0].last_error, "connection refused");
  // Not due yet: nothing runs.
  auto early = engine_.advance(*inst);
  ASSERT_TRUE(early);
  EXPECT_FALSE(early->ran);
  EXPECT_EQ(calls, 1);
  clock_.set(*p->next);
  auto p2 = engine_.advance(*inst);
  ASSERT_TRUE(p2 && p2->next);
  auto second = *p2->next - clock_.now();
  EXPECT_GE(second, 1600ms);
  EXPECT_LE(second, 2400ms);
  clock_.set(*p2->next);
  drive(*inst);
  EXPECT_EQ(inst->phase, Phase::kSucceeded);
  EXPECT_EQ(calls, 3);
}

TEST_F(EngineTest, ExhaustedBudgetInterruptsAndResumeGivesAFreshBudget) {
  int calls = 0;
  bool healthy = false;
  Definition def{"wf", {ok("a"), step("b", [&](const StepInput&) {
                   calls++;
                   return healthy ? StepResult::done() : StepResult::retry("disk full");
                 }), ok("c")}, 3};
  def.retry.max_attempts = 3;
  engine_.define(def);
  auto inst = engine_.start("op", "wf");
  drive(*inst);
  EXPECT_EQ(inst->phase, Phase::kInterrupted);
  EXPECT_EQ(inst->reason, "RetryBudgetExhausted");
  EXPECT_NE(inst->message.find("step b failed 3 times; last error: disk full"), std::string::npos) << inst->message;
  EXPECT_EQ(inst->steps[1].state, StepState::kFailed);
  EXPECT_EQ(calls, 3);
  // Nothing happens while interrupted.
  auto p = engine_.advance(*inst);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->ran);
  // Resume at the failed step with a fresh budget (not one try, as in the seed).
  healthy = false;
  ASSERT_TRUE(engine_.resume(*inst));
  EXPECT_EQ(inst->steps[1].attempts, 0);
  EXPECT_EQ(inst->steps[0].state, StepState::kDone);
  drive(*inst);
  EXPECT_EQ(calls, 6) << "the resumed step must get the whole budget again";
  healthy = true;
  ASSERT_TRUE(engine_.resume(*inst));
  drive(*inst);
  EXPECT_EQ(inst->phase, Phase::kSucceeded);
  auto again = engine_.resume(*inst);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, core::Code::kConflict);
}

TEST_F(EngineTest, TheBudgetIsPerStep) {
  std::map<std::string, int> calls;
  auto flaky_twice = [&](const std::string& name) {
    return step(name, [&, name](const StepInput&) { return ++calls[name] <= 2 ? StepResult::retry("busy") : StepResult::done(); });
  };
  Definition def{"wf", {flaky_twice("a"), flaky_twice("b"), flaky_twice("c")}, 3};
  def.retry.max_attempts = 3;
  engine_.define(def);
  auto inst = engine_.start("op", "wf");
  drive(*inst);
  EXPECT_EQ(inst->phase, Phase::kSucceeded) << inst->message;
  EXPECT_EQ(calls["c"], 3);
}

TEST_F(EngineTest, WaitingCostsNoBudgetAndPokeReevaluatesEarly) {
  int checks = 0;
  bool ready = false;
  Definition def{"wf", {step("until-ready", [&](const StepInput&) {
                   checks++;
                   return ready ? StepResult::done() : StepResult::wait("replica catching up", 5s);
                 })}, 1};
  def.retry.max_attempts = 2;
  engine_.define(def);
  auto inst = engine_.start("op", "wf");
  for (int i = 0; i < 10; ++i) {
    auto p = engine_.advance(*inst);
    ASSERT_TRUE(p && p->next);
    EXPECT_EQ(inst->phase, Phase::kWaiting);
    EXPECT_EQ(inst->message, "replica catching up");
    EXPECT_EQ(*p->next - clock_.now(), 5s);
    clock_.set(*p->next);
  }
  EXPECT_EQ(inst->steps[0].attempts, 0);
  Runner runner(engine_);
  runner.add(*inst);
  ready = true;
  clock_.advance(-4s);  // not due yet ...
  EXPECT_TRUE(runner.run_due().has_value());
  EXPECT_EQ(checks, 10);
  runner.poke("op", clock_.now());  // ... until something it waits for happens
  runner.run_due();
  EXPECT_EQ(runner.get("op")->phase, Phase::kSucceeded);
  EXPECT_EQ(checks, 11);
}

TEST_F(EngineTest, ExceptionsCountAsRetries) {
  int calls = 0;
  engine_.define({"wf", {step("throws", [&](const StepInput&) -> StepResult {
                    if (++calls == 1) throw std::runtime_error("boom");
                    return StepResult::done();
                  })}, 1});
  auto inst = engine_.start("op", "wf");
  drive(*inst);
  EXPECT_EQ(inst->phase, Phase::kSucceeded);
  EXPECT_EQ(calls, 2);
}

TEST_F(EngineTest, InterruptFailAndResumeFromStart) {
  int a = 0;
  bool stuck = true;
  Definition def{"wf", {step("a", [&](const StepInput&) { a++; return StepResult::done(); }),
                        step("b", [&](const StepInput&) {
                          return stuck ? StepResult::interrupt("PodLost", "instance demo-1 vanished") : StepResult::done();
                        })}, 2};
  def.resume_from_start = true;
  engine_.define(def);
  auto inst = engine_.start("op", "wf");
  drive(*inst);
  EXPECT_EQ(inst->phase, Phase::kInterrupted);
  EXPECT_EQ(inst->reason, "PodLost");
  EXPECT_EQ(inst->message, "instance demo-1 vanished");
  stuck = false;
  ASSERT_TRUE(engine_.resume(*inst));
  drive(*inst);
  EXPECT_EQ(inst->phase, Phase::kSucceeded);
  EXPECT_EQ(a, 2) << "resume_from_start reruns step a";

  engine_.define({"gone", {step("x", [](const StepInput&) { return StepResult::fail("ClusterNotFound", "demo was deleted"); })}, 1});
  auto g = engine_.start("op2", "gone");
  drive(*g);
  EXPECT_EQ(g->phase, Phase::kFailed);
  EXPECT_EQ(g->reason, "ClusterNotFound");
  EXPECT_TRUE(engine_.cancel(*g)) << "a Failed run can still be cancelled";
  EXPECT_EQ(g->phase, Phase::kCancelled);
}

TEST_F(EngineTest, SupersedeOnlyBeforeThePointOfNoReturn) {
  engine_.define({"wf", {ok("plan"), ok("prepare"), ok("switch"), ok("finish")}, 2});
  auto early = engine_.start("op1", "wf");
  ASSERT_TRUE(engine_.advance(*early));  // plan done; prepare next
  EXPECT_FALSE(engine_.past_point_of_no_return(*early));
  ASSERT_TRUE(engine_.supersede(*early));
  EXPECT_EQ(early->phase, Phase::kCancelled);
  EXPECT_EQ(early->reason, "Superseded");
  EXPECT_EQ(early->steps[1].state, StepState::kSkipped);

  auto late = engine_.start("op2", "wf");
  ASSERT_TRUE(engine_.advance(*late));
  ASSERT_TRUE(engine_.advance(*late));  // now at "switch", the point of no return
  EXPECT_TRUE(engine_.past_point_of_no_return(*late));
  auto r = engine_.supersede(*late);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kConflict);
  auto c = engine_.cancel(*late);
  ASSERT_FALSE(c) << "no compensation: past the point of no return it runs to completion";
  drive(*late);
  EXPECT_EQ(late->phase, Phase::kSucceeded);
}

TEST_F(EngineTest, CancelRunsCompensationSteps) {
  std::vector<std::string> undone;
  Definition def{"wf", {ok("create-temp"), step("wait", [](const StepInput&) { return StepResult::wait("forever", 1h); })}, 0};
  def.compensation = {step("delete-temp", [&](const StepInput&) { undone.push_back("temp"); return StepResult::done(); })};
  engine_.define(def);
  auto inst = engine_.start("op", "wf");
  ASSERT_TRUE(engine_.advance(*inst));
  ASSERT_TRUE(engine_.advance(*inst));
  EXPECT_EQ(inst->phase, Phase::kWaiting);
  ASSERT_TRUE(engine_.cancel(*inst));
  EXPECT_EQ(inst->reason, "Cancelling");
  EXPECT_EQ(inst->steps[1].state, StepState::kSkipped);
  drive(*inst);
  EXPECT_EQ(inst->phase, Phase::kCancelled);
  EXPECT_EQ(undone, std::vector<std::string>{"temp"});
  EXPECT_FALSE(engine_.cancel(*inst));
}

TEST_F(EngineTest, AtLeastOnceWhenTheProcessDiesBeforeTheResultIsSaved) {
  int runs = 0;
  engine_.define({"wf", {ok("a"), step("b", [&](const StepInput&) { runs++; return StepResult::done(); }), ok("c")}, 3});
  auto inst = engine_.start("op", "wf");
  ASSERT_TRUE(engine_.advance(*inst));  // a
  // b runs, but saving its result fails: as if the process died right after the step.
  store_.fail_save_number(2);
  auto p = engine_.advance(*inst);
  ASSERT_FALSE(p);
  EXPECT_EQ(runs, 1);
  // Recover from what was durably saved: the attempt is recorded, the result is not.
  Instance recovered = store_.last_["op"];
  EXPECT_EQ(recovered.steps[1].state, StepState::kRunning);
  EXPECT_EQ(recovered.steps[1].attempts, 1);
  store_.fail_save_number(0);
  drive(recovered);
  EXPECT_EQ(recovered.phase, Phase::kSucceeded);
  EXPECT_EQ(runs, 2) << "the step whose result was lost runs again (at least once, never skipped)";
  EXPECT_EQ(recovered.steps[1].attempts, 2);
}

TEST_F(EngineTest, FailpointsFailAStepNTimes) {
  int runs = 0;
  engine_.define({"wf", {step("configure", [&](const StepInput&) { runs++; return StepResult::done(); })}, 1});
  ASSERT_TRUE(Failpoints::global().arm("before:configure=fail(2)"));
  auto inst = engine_.start("op", "wf");
  drive(*inst);
  Failpoints::global().clear();
  EXPECT_EQ(inst->phase, Phase::kSucceeded);
  EXPECT_EQ(inst->steps[0].attempts, 3);
  EXPECT_EQ(runs, 1);
}

TEST(Failpoints, BadSpecsAreRejected) {
  Failpoints fp;
  struct Case {
    const char* spec;
    const char* error;
  } cases[] = {
      {"configure=crash", "must start with before: or after:"},
      {"before:x", "expected point=action"},
      {"before:x=explode", "action must be crash or fail(N)"},
      {"before:x=fail(0)", "fail(N) needs N > 0"},
  };
  for (const auto& c : cases) {
    auto st = fp.arm(c.spec);
    ASSERT_FALSE(st) << c.spec;
    EXPECT_NE(st.error().message.find(c.error), std::string::npos) << st.error().message;
  }
  EXPECT_EQ(fp.fire("before:x"), Failpoints::Action::kNone) << "a rejected spec arms nothing";
  EXPECT_TRUE(fp.arm("before:x=fail(1);after:y=crash"));
  EXPECT_EQ(fp.fire("before:x"), Failpoints::Action::kFail);
  EXPECT_EQ(fp.fire("before:x"), Failpoints::Action::kNone);
}

TEST(WorkflowCodec, RoundTrip) {
  Instance inst;
  inst.id = "op";
  inst.definition = "wf";
  inst.phase = Phase::kInterrupted;
  inst.reason = "RetryBudgetExhausted";
  inst.message = "m";
  inst.steps = {{"a", StepState::kDone, 1, "", parse_time("2026-11-21T07:00:00.123Z"), parse_time("2026-11-21T07:00:01.5Z")},
                {"b", StepState::kFailed, 5, "disk full", parse_time("2026-11-21T07:00:02Z"), {}}};
  inst.context = {{"k", "v"}};
  inst.next_run_at = parse_time("2026-11-21T07:01:00.250Z");
  inst.started_at = parse_time("2026-11-21T07:00:00.000Z");
  auto j = to_json(inst);
  EXPECT_EQ(j["steps"][0]["finishedAt"], "2026-11-21T07:00:01.500Z");
  auto back = from_json(j, "op");
  ASSERT_TRUE(back);
  EXPECT_EQ(to_json(*back), j);
  EXPECT_EQ(back->steps[1].last_error, "disk full");
  EXPECT_EQ(back->next_run_at, inst.next_run_at);
  EXPECT_FALSE(from_json({{"phase", "Exploded"}}, "x"));
}

}  // namespace
}  // namespace polarstack::workflow

namespace polarstack::workflow {
namespace {

// A step asked again and again while it waits is not written each time: the same wait is
// not saved again, and its attempt is recorded at most every kWaitRecordEvery. A wait
// whose message changes is saved (status shows what it waits for).
TEST_F(EngineTest, RepeatedSameWaitIsNotWrittenAgain) {
  int asked = 0;
  engine_.define({"wf", {step("w", [&](const StepInput&) {
                    return ++asked > 50 ? StepResult::done() : StepResult::wait("replica catching up", 100ms);
                  })}, 2});
  auto inst = engine_.start("op-w", "wf");
  ASSERT_TRUE(inst);
  int before = store_.saves_;
  drive(*inst, 200);
  EXPECT_EQ(inst->phase, Phase::kSucceeded);
  EXPECT_EQ(asked, 51);
  // First attempt (2), the done result (1), and the 5 s of waiting record no attempt
  // again (kWaitRecordEvery is 10 s), plus the finish.
  EXPECT_LE(store_.saves_ - before, 6) << "a waiting step is written on every poll";
  EXPECT_EQ(store_.last_["op-w"].phase, Phase::kSucceeded);
}

TEST_F(EngineTest, WaitWhoseMessageChangesIsSavedAndAttemptsAreRecordedNowAndThen) {
  int asked = 0;
  engine_.define({"wf", {step("w", [&](const StepInput&) {
                    ++asked;
                    if (asked > 300) return StepResult::done();
                    // The message changes every 100 asks; 300 asks at 100 ms are 30 s.
                    return StepResult::wait("waiting, round " + std::to_string(asked / 100), 100ms);
                  })}, 2});
  auto inst = engine_.start("op-m", "wf");
  ASSERT_TRUE(inst);
  int before = store_.saves_;
  drive(*inst, 400);
  EXPECT_EQ(inst->phase, Phase::kSucceeded);
  int saves = store_.saves_ - before;
  // 3 message changes and ~3 attempt records (every 10 s) each with its result: far
  // fewer than 2 per ask (600), but more than the same wait would cost.
  EXPECT_GE(saves, 6);
  EXPECT_LE(saves, 20);
}

}  // namespace
}  // namespace polarstack::workflow
