// Drives many workflow instances without blocking: each due instance gets one step
// attempt per pass; the caller sleeps until the earliest next time (or until poked).
// Single-threaded by design: call it from one thread (the controller's).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "workflow/engine.h"

namespace polarstack::workflow {

class Runner {
 public:
  explicit Runner(Engine& engine) : engine_(engine) {}

  void add(Instance inst);          // takes over (or replaces) an instance
  const Instance* get(const std::string& id) const;
  // Something the instance waits for happened: evaluate it at the next pass.
  void poke(const std::string& id, TimePoint now);
  // One attempt for every due instance. Returns the earliest time any instance wants
  // to run next (nullopt: none will without a human). Instances whose save failed are
  // returned in `failed` (reload them from the store).
  std::optional<TimePoint> run_due(std::vector<std::string>* failed = nullptr);
  size_t size() const { return instances_.size(); }

 private:
  Engine& engine_;
  std::map<std::string, Instance> instances_;
};

}  // namespace polarstack::workflow
