// Persists workflow runs as the status of their PolarDBOperation: instance id
// "<namespace>/<name>", status = the run (workflow/codec.h) plus progress ("2/5 promote")
// and the observedGeneration of the requests already handled.
#pragma once

#include <map>
#include <string>

#include "cluster/ports.h"
#include "workflow/instance.h"

namespace polarstack::cluster {

std::string operation_id(const std::string& ns, const std::string& name);
// "2/5 promote", "5/5", or "" before the run started.
std::string progress_of(const workflow::Instance& inst);

class OperationStore : public workflow::InstanceStore {
 public:
  explicit OperationStore(ClusterApi& api) : api_(api) {}
  core::Status save(const workflow::Instance& inst) override;
  void set_observed_generation(const std::string& id, int64_t g) { observed_[id] = g; }
  int64_t observed_generation(const std::string& id) const;

 private:
  ClusterApi& api_;
  std::map<std::string, int64_t> observed_;
};

}  // namespace polarstack::cluster
