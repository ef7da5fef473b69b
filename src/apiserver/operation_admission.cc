#include "apiserver/operation_admission.h"

#include "api/operation.h"

namespace polarstack::apiserver {

using core::Json;

namespace {
core::Status invalid(const Json& op, std::string field, std::string message) {
  return core::fail(core::Error::invalid("PolarDBOperation \"" + core::string_at(op, "metadata.name") + "\" is invalid",
                                         {{std::move(field), std::move(message)}}));
}
}  // namespace

core::Status check_operation_create(Store& store, const std::string& ns, const Json& op) {
  if (auto spec = api::decode<api::OperationSpec>(op.value("spec", Json::object()), "spec", "spec")) {
    api::FieldErrors errs;
    spec->check_new("spec", errs);
    if (!errs.empty()) {
      return core::fail(core::Error::invalid("PolarDBOperation \"" + core::string_at(op, "metadata.name") + "\" is invalid",
                                             std::move(errs)));
    }
  }
  // The operator derives these from a change of the cluster's spec.parameters (the one
  // place the cluster's parameters are declared); one asked for directly would leave
  // the instances different from the spec, and nothing would bring them back.
  for (auto [type, field] : {std::pair{"UpdateParameters", "spec.parameters"}, std::pair{"UpgradeMinorVersion", "spec.version"},
                              std::pair{"ChangeClass", "spec.resources"}}) {
    if (core::string_at(op, "spec.type") != type) continue;
    const Json* labels = core::find_path(op, "metadata.labels");
    if (!labels || !labels->is_object() || labels->value("polarstack.io/derived", "") != "true") {
      return invalid(op, "spec.type", std::string(type) + " is derived by the operator: change " + field +
                                          " of the PolarDBCluster instead");
    }
  }
  std::string cluster = core::string_at(op, "spec.clusterRef");
  auto stored = store.get("polarstack.io/polardbclusters/" + ns + "/" + cluster);
  if (!stored) {
    return invalid(op, "spec.clusterRef", "PolarDBCluster \"" + cluster + "\" not found in namespace " + ns);
  }
  auto c = core::parse_json(*stored->data);
  if (!c) return core::fail(c.error());
  for (const char* field : {"instance", "target"}) {
    std::string name = core::string_at(op, std::string("spec.") + field);
    if (name.empty()) continue;
    bool found = false;
    std::string known;
    if (const Json* list = core::find_path(*c, "status.instances"); list && list->is_array()) {
      for (const auto& i : *list) {
        known += (known.empty() ? "" : ", ") + i.value("name", "");
        found = found || i.value("name", "") == name;
      }
    }
    if (!found) {
      return invalid(op, std::string("spec.") + field,
                     "PolarDBCluster \"" + cluster + "\" has no instance \"" + name + "\" (instances: " +
                         (known.empty() ? "none yet" : known) + ")");
    }
  }
  return {};
}

core::Status check_operation_update(const Json& current, const Json& next) {
  for (const char* f : {"clusterRef", "type", "instance", "target", "node", "readers"}) {
    const Json* a = core::find_path(current, std::string("spec.") + f);
    const Json* b = core::find_path(next, std::string("spec.") + f);
    if ((a ? *a : Json()) != (b ? *b : Json())) {
      return invalid(next, std::string("spec.") + f, "is immutable: create a new PolarDBOperation instead");
    }
  }
  std::string phase = core::string_at(current, "status.phase");
  bool was_resume = current.value("spec", Json::object()).value("resume", false);
  bool resume = next.value("spec", Json::object()).value("resume", false);
  bool was_cancel = current.value("spec", Json::object()).value("cancel", false);
  bool cancel = next.value("spec", Json::object()).value("cancel", false);
  std::string name = core::string_at(current, "metadata.name");
  if (resume && !was_resume && phase != "Interrupted" && phase != "Failed") {
    return invalid(next, "spec.resume",
                   "only an Interrupted or Failed operation can be resumed; " + name + " is " +
                       (phase.empty() ? "Pending" : phase));
  }
  if (was_cancel && !cancel) return invalid(next, "spec.cancel", "a cancel request cannot be withdrawn");
  if (cancel && !was_cancel && (phase == "Succeeded" || phase == "Cancelled")) {
    return invalid(next, "spec.cancel", name + " has already " + (phase == "Succeeded" ? "succeeded" : "been cancelled"));
  }
  return {};
}

}  // namespace polarstack::apiserver
