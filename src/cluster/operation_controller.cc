#include "cluster/operation_controller.h"

#include <algorithm>
#include <set>

#include "core/log.h"
#include "core/time.h"
#include "workflow/codec.h"

namespace polarstack::cluster {

using core::Json;
using workflow::Phase;

namespace {
bool is_done(const std::string& phase) { return phase == "Succeeded" || phase == "Cancelled"; }
}  // namespace

OperationController::OperationController(ClusterApi& api, workflow::Engine& engine, OperationStore& store, Options opts)
    : api_(api), engine_(engine), store_(store), opts_(opts) {}

std::string OperationController::phase_of(const Op& op) {
  auto it = live_.find(op.id);
  if (it != live_.end()) return workflow::phase_name(it->second.phase);
  return core::string_at(op.object, "status.phase");
}

workflow::Instance* OperationController::live(const Op& op) {
  auto it = live_.find(op.id);
  if (it != live_.end()) return &it->second;
  const Json* status = core::find_path(op.object, "status");
  if (!status || core::string_at(*status, "workflow").empty()) return nullptr;
  auto inst = workflow::from_json(*status, op.id);
  if (!inst) return nullptr;
  store_.set_observed_generation(op.id, status->value("observedGeneration", int64_t{0}));
  return &(live_[op.id] = std::move(*inst));
}

std::optional<workflow::TimePoint> OperationController::reconcile(const std::vector<Json>& operations) {
  std::map<std::pair<std::string, std::string>, std::vector<Op>> by_cluster;
  std::set<std::string> seen;
  for (const auto& o : operations) {
    Op op;
    op.ns = core::string_at(o, "metadata.namespace");
    op.name = core::string_at(o, "metadata.name");
    op.cluster = core::string_at(o, "spec.clusterRef");
    op.type = core::string_at(o, "spec.type");
    op.created = core::string_at(o, "metadata.creationTimestamp");
    op.generation = core::find_path(o, "metadata.generation") ? o["metadata"]["generation"].get<int64_t>() : 0;
    op.id = operation_id(op.ns, op.name);
    op.object = o;
    seen.insert(op.id);
    std::string uid = core::string_at(o, "metadata.uid");
    if (auto u = uid_of_.find(op.id); u != uid_of_.end() && u->second != uid) live_.erase(op.id);
    uid_of_[op.id] = uid;
    by_cluster[{op.ns, op.cluster}].push_back(std::move(op));
  }
  for (auto it = live_.begin(); it != live_.end();) it = seen.count(it->first) ? std::next(it) : live_.erase(it);
  for (auto it = uid_of_.begin(); it != uid_of_.end();) it = seen.count(it->first) ? std::next(it) : uid_of_.erase(it);
  std::optional<workflow::TimePoint> next;
  for (auto& [key, ops] : by_cluster) {
    std::sort(ops.begin(), ops.end(), [](const Op& a, const Op& b) {
      return a.created != b.created ? a.created < b.created : a.name < b.name;
    });
    reconcile_cluster(ops, next);
  }
  return next;
}

void OperationController::write_plain_status(Op& op, const std::string& phase, const std::string& reason,
                                             const std::string& message) {
  Json status = {{"phase", phase}, {"reason", reason}, {"message", message},
                 {"observedGeneration", store_.observed_generation(op.id)}};
  if (phase == "Failed" || phase == "Cancelled") status["finishedAt"] = workflow::format_time(engine_.clock().now());
  const Json* cur = core::find_path(op.object, "status");
  if (cur && cur->value("phase", "") == phase && cur->value("reason", "") == reason &&
      cur->value("message", "") == message && cur->value("observedGeneration", int64_t{0}) == status["observedGeneration"]) {
    return;  // unchanged
  }
  if (auto r = api_.write_operation_status(op.ns, op.name, status); !r) {
    core::log_warn("operations", "cannot write status of " + op.id + ": " + r.error().message);
    return;
  }
  op.object["status"] = status;
}

core::Status OperationController::supersede(const Json& operation) {
  Op op;
  op.ns = core::string_at(operation, "metadata.namespace");
  op.name = core::string_at(operation, "metadata.name");
  op.id = operation_id(op.ns, op.name);
  op.object = operation;
  workflow::Instance* inst = live(op);
  if (!inst) {
    if (is_done(phase_of(op))) return {};
    write_plain_status(op, "Cancelled", "Superseded", "replaced by a newer spec before it started");
    api_.record_event(op.object, "Normal", "OperationSuperseded", "replaced by a newer spec before it started");
    return {};
  }
  if (workflow::is_finished(inst->phase)) return {};
  if (auto st = engine_.supersede(*inst); !st) return st;
  api_.record_event(op.object, "Normal", "OperationSuperseded", inst->message);
  return {};
}

void OperationController::handle_requests(Op& op) {
  workflow::Instance* inst = live(op);  // on first sight also loads observedGeneration
  if (op.generation <= store_.observed_generation(op.id)) return;
  const Json spec = op.object.value("spec", Json::object());
  int64_t handled = op.generation;
  if (spec.value("cancel", false)) {
    if (!inst) {
      store_.set_observed_generation(op.id, handled);
      write_plain_status(op, "Cancelled", "Cancelled", "cancelled by request before it started");
      api_.record_event(op.object, "Normal", "OperationCancelled", "cancelled before it started");
      return;
    }
    if (!workflow::is_finished(inst->phase) && !inst->cancelling) {
      store_.set_observed_generation(op.id, handled);
      if (auto st = engine_.cancel(*inst); !st) {
        api_.record_event(op.object, "Warning", "CancelRefused", st.error().message);
        store_.save(*inst);
      } else {
        api_.record_event(op.object, "Normal", "OperationCancelling", inst->message);
      }
      return;
    }
  }
  if (spec.value("resume", false)) {
    if (!inst && phase_of(op) == "Failed") {
      // Failed before it started (e.g. no such cluster then): try to start it again.
      write_plain_status(op, "Pending", "Resumed", "resumed by request");
      api_.record_event(op.object, "Normal", "OperationResumed", "resumed by request");
    } else if (inst && (inst->phase == Phase::kInterrupted || inst->phase == Phase::kFailed)) {
      if (auto st = engine_.resume(*inst); st) {
        api_.record_event(op.object, "Normal", "OperationResumed", "resumed by request");
      }
    }
    // The request is consumed: clear it so that the next `polarctl resume` is a new one.
    auto patched = api_.patch_operation(op.ns, op.name, {{"spec", {{"resume", false}}}});
    if (patched && core::find_path(*patched, "metadata.generation")) {
      handled = (*patched)["metadata"]["generation"].get<int64_t>();
      op.object = *patched;
      op.generation = handled;
    }
  }
  store_.set_observed_generation(op.id, handled);
  if (inst) store_.save(*inst);
}

void OperationController::start(Op& op) {
  auto cluster = api_.get_cluster(op.ns, op.cluster);
  if (!cluster && cluster.error().code == core::Code::kNotFound) {
    write_plain_status(op, "Failed", "ClusterNotFound", "PolarDBCluster \"" + op.cluster + "\" does not exist");
    api_.record_event(op.object, "Warning", "ClusterNotFound", "PolarDBCluster \"" + op.cluster + "\" does not exist");
    return;
  }
  if (!cluster) return;  // API trouble: try again on the next pass
  if (!engine_.find(op.type)) {
    std::string msg = "this release has no workflow for " + op.type + " operations";
    write_plain_status(op, "Failed", "UnsupportedType", msg);
    api_.record_event(op.object, "Warning", "UnsupportedType", msg);
    return;
  }
  const Json spec = op.object.value("spec", Json::object());
  workflow::Context ctx = {{"namespace", op.ns}, {"cluster", op.cluster}};
  for (const char* k : {"instance", "target", "node", "method", "version"}) {
    if (!spec.value(k, "").empty()) ctx[k] = spec.value(k, "");
  }
  if (spec.contains("readers")) ctx["readers"] = std::to_string(spec["readers"].get<int>());
  // The spec this run implements (UpdateParameters, Create): a snapshot, never re-read.
  if (spec.contains("parameters") && spec["parameters"].is_object()) ctx["parameters"] = spec["parameters"].dump();
  if (spec.contains("resources") && spec["resources"].is_object()) ctx["resources"] = spec["resources"].dump();
  auto inst = engine_.start(op.id, op.type, ctx);
  if (!inst) {
    core::log_warn("operations", "cannot start " + op.id + ": " + inst.error().message);
    return;
  }
  live_[op.id] = std::move(*inst);
  api_.record_event(op.object, "Normal", "OperationStarted",
                    op.type + " of " + op.cluster + " started (" + std::to_string(live_[op.id].steps.size()) + " steps)");
}

void OperationController::drive(const Op& op, std::optional<workflow::TimePoint>& next) {
  workflow::Instance* inst = live(op);
  if (!inst) return;
  Phase before = inst->phase;
  for (int i = 0; i < 20; ++i) {  // bounded: other clusters get their turn
    auto p = engine_.advance(*inst);
    if (!p) {
      core::log_warn("operations", "cannot save " + op.id + ": " + p.error().message);
      live_.erase(op.id);  // reload from the API on the next pass
      next = engine_.clock().now() + std::chrono::seconds(1);
      return;
    }
    if (!p->next) break;
    if (*p->next > engine_.clock().now() || !p->ran) {
      if (!next || *p->next < *next) next = *p->next;
      break;
    }
  }
  if (inst->phase != before) {
    switch (inst->phase) {
      case Phase::kSucceeded:
        api_.record_event(op.object, "Normal", "OperationSucceeded", op.type + " of " + op.cluster + " succeeded");
        break;
      case Phase::kInterrupted:
        api_.record_event(op.object, "Warning", "OperationInterrupted", inst->reason + ": " + inst->message);
        break;
      case Phase::kFailed:
        api_.record_event(op.object, "Warning", "OperationFailed", inst->reason + ": " + inst->message);
        break;
      case Phase::kCancelled:
        api_.record_event(op.object, "Normal", "OperationCancelled", inst->message);
        break;
      default:
        break;
    }
  }
}

void OperationController::reconcile_cluster(std::vector<Op>& ops, std::optional<workflow::TimePoint>& next) {
  for (auto& op : ops) handle_requests(op);
  const Op* active = nullptr;
  for (auto& op : ops) {
    if (is_done(phase_of(op))) continue;
    if (!active) {
      active = &op;
      if (!live(op) && phase_of(op) != "Failed") start(op);
      drive(op, next);
      continue;
    }
    if (!live(op) && phase_of(op) != "Failed") {
      write_plain_status(op, "Pending", "Queued", "waiting for " + active->name + " (" + active->type + ") to finish");
    }
  }
  if (!ops.empty()) update_cluster_status(ops[0].ns, ops[0].cluster, active);
  prune_history(ops);
}

void OperationController::update_cluster_status(const std::string& ns, const std::string& cluster, const Op* active) {
  Json operation = Json::object();
  Json condition = {{"type", "Interrupted"}, {"status", "False"}, {"reason", "NoOperationInterrupted"}, {"message", ""}};
  if (active) {
    const workflow::Instance* inst = live(*active);
    operation = {{"name", active->name}, {"type", active->type}};
    if (inst) {
      int done = 0;
      for (const auto& s : inst->steps) done += s.state == workflow::StepState::kDone ? 1 : 0;
      size_t cur = inst->current();
      operation["step"] = cur < inst->steps.size() ? inst->steps[cur].name : "";
      operation["stepsDone"] = done;
      operation["stepsTotal"] = static_cast<int>(inst->steps.size());
      // A step that keeps failing says why while it is retried, so a stuck operation
      // explains itself in the cluster's status (polarctl describe, polarctl wait).
      if (cur < inst->steps.size() && !inst->steps[cur].last_error.empty()) {
        operation["attempts"] = inst->steps[cur].attempts;
        operation["lastError"] = inst->steps[cur].last_error;
      }
      if (inst->phase == Phase::kWaiting && !inst->message.empty()) operation["message"] = inst->message;
      if (inst->phase == Phase::kInterrupted || inst->phase == Phase::kFailed) {
        condition = {{"type", "Interrupted"}, {"status", "True"}, {"reason", inst->reason},
                     {"message", "operation " + active->name + " (" + active->type + ") stopped at step " +
                                     std::string(operation["step"]) + ": " + inst->message +
                                     "; resume it with: polarctl resume " + active->name}};
      }
    } else if (phase_of(*active) == "Failed") {
      condition = {{"type", "Interrupted"}, {"status", "True"},
                   {"reason", core::string_at(active->object, "status.reason")},
                   {"message", "operation " + active->name + " failed: " + core::string_at(active->object, "status.message")}};
    }
  }
  std::string key = ns + "/" + cluster;
  Json desired = {{"operation", operation}, {"condition", condition}};
  auto it = cluster_status_written_.find(key);
  if (it != cluster_status_written_.end() && it->second == desired) return;
  auto c = api_.get_cluster(ns, cluster);
  if (!c) return;
  Json conditions = core::find_path(*c, "status.conditions") ? (*c)["status"]["conditions"] : Json::array();
  bool replaced = false;
  for (auto& cond : conditions) {
    if (cond.value("type", "") != "Interrupted") continue;
    replaced = true;
    if (cond.value("status", "") != condition["status"]) cond["lastTransitionTime"] = core::rfc3339_now();
    if (const Json* g = core::find_path(*c, "metadata.generation")) cond["observedGeneration"] = *g;
    else condition["lastTransitionTime"] = cond.value("lastTransitionTime", core::rfc3339_now());
    for (const char* k : {"status", "reason", "message"}) cond[k] = condition[k];
  }
  if (!replaced) {
    condition["lastTransitionTime"] = core::rfc3339_now();
    if (const Json* g = core::find_path(*c, "metadata.generation")) condition["observedGeneration"] = *g;
    conditions.push_back(condition);
  }
  Json patch = {{"metadata", {{"resourceVersion", core::string_at(*c, "metadata.resourceVersion")}}},
                {"status", {{"operation", operation.empty() ? Json(nullptr) : operation}, {"conditions", conditions}}}};
  if (api_.patch_cluster_status(ns, cluster, patch)) cluster_status_written_[key] = desired;
}

void OperationController::prune_history(std::vector<Op>& ops) {
  std::vector<const Op*> finished;
  for (const auto& op : ops) {
    if (is_done(phase_of(op))) finished.push_back(&op);
  }
  if (finished.size() <= opts_.history_per_cluster) return;
  size_t excess = finished.size() - opts_.history_per_cluster;
  for (size_t i = 0; i < excess; ++i) {  // oldest first: ops are in creation order
    if (api_.delete_operation(finished[i]->ns, finished[i]->name)) live_.erase(finished[i]->id);
  }
}

}  // namespace polarstack::cluster
