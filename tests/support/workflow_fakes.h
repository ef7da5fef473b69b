// Fakes of the workflow engine's ports: a clock tests move by hand and an in-memory
// store of runs (which can be told to fail a given save).
#pragma once

#include <map>
#include <string>

#include "workflow/engine.h"

namespace polarstack::testing {

using workflow::Clock;
using workflow::Instance;
using workflow::InstanceStore;
using workflow::TimePoint;

class FakeClock : public Clock {
 public:
  TimePoint now() const override { return t_; }
  void advance(std::chrono::milliseconds d) { t_ += d; }
  void set(TimePoint t) { t_ = t; }

 private:
  TimePoint t_ = std::chrono::system_clock::from_time_t(1800000000);
};

class MemoryStore : public InstanceStore {
 public:
  core::Status save(const Instance& inst) override {
    if (fail_at_ > 0 && ++count_ == fail_at_) return core::fail(core::Code::kUnavailable, "store down");
    saves_++;
    last_[inst.id] = inst;
    return {};
  }
  void fail_save_number(int n) { fail_at_ = n; count_ = 0; }
  int saves_ = 0;
  std::map<std::string, Instance> last_;

 private:
  int fail_at_ = 0, count_ = 0;
};

}  // namespace polarstack::testing
