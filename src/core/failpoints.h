// Test-only fault injection. Named points take an action when armed: in the workflow
// engine "before:<step>" and "after:<step>" (after means: the step ran, its result is
// not saved yet); in the Cluster Manager "after:cm-fence" and "after:cm-promote" (in the
// middle of a failover).
//
//   crash      the process kills itself with SIGKILL (as kill -9 would)
//   fail(N)    the step's next N attempts fail as transient errors (before: only)
//
// Armed from the environment, e.g.
//   POLARSTACK_FAILPOINTS="after:configure=crash;before:promote=fail(3)"
// or programmatically by tests. Unarmed points cost one map lookup.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "core/error.h"

namespace polarstack::core {

class Failpoints {
 public:
  enum class Action { kNone, kCrash, kFail };

  static Failpoints& global();  // armed from $POLARSTACK_FAILPOINTS on first use

  core::Status arm(const std::string& spec);  // "point=action;point=action"
  void clear();
  // Fires the point: crashes, or returns kFail while its count lasts, else kNone.
  Action fire(const std::string& point);

 private:
  struct Armed {
    Action action;
    int remaining;
  };
  std::mutex mu_;
  std::map<std::string, Armed> points_;
};

}  // namespace polarstack::core
