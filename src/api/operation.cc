#include "api/operation.h"

#include <algorithm>
#include <atomic>

namespace polarstack::api {

namespace {
std::atomic<bool> accept_unimplemented{false};
}  // namespace

bool operation_type_implemented(const std::string& type) {
  return type == "Create" || type == "Delete" || type == "ScaleReaders" || type == "Switchover" ||
         type == "RestartInstance" || type == "RestartCluster" || type == "UpdateParameters" ||
         type == "UpgradeMinorVersion" || type == "ChangeClass";
}

void accept_unimplemented_operation_types(bool accept) { accept_unimplemented = accept; }

void OperationSpec::check_new(const std::string& path, FieldErrors& errs) const {
  bool known = std::find(kOperationTypes.begin(), kOperationTypes.end(), type) != kOperationTypes.end();
  if (known && !operation_type_implemented(type) && !accept_unimplemented) {
    errs.push_back({join_path(path, "type"), type + " is not implemented in this release (implemented: Create, Delete, "
                                                    "ScaleReaders, Switchover, RestartInstance, RestartCluster, UpdateParameters, "
                                                    "UpgradeMinorVersion, ChangeClass)"});
    return;
  }
  // A field the type does not use would be stored and ignored: refused instead.
  auto only_for = [&](const char* field, bool given, std::initializer_list<const char*> types) {
    if (!given || !known) return;
    std::string list;
    for (const char* t : types) {
      if (type == t) return;
      list += (list.empty() ? "" : ", ") + std::string(t);
    }
    errs.push_back({join_path(path, field), "applies only to type " + list + ", not " + type});
  };
  if (!accept_unimplemented) {
    only_for("instance", !instance.empty(), {"RestartInstance", "RebuildInstance", "MigrateInstance"});
    only_for("target", !target.empty(), {"Switchover"});
    only_for("node", !node.empty(), {"MigrateInstance"});
    only_for("method", !method.empty(), {"RestartInstance"});
    only_for("readers", readers.has_value(), {"ScaleReaders", "Create"});
    only_for("parameters", !parameters.empty(), {"Create", "UpdateParameters", "UpgradeMinorVersion", "ChangeClass"});
    only_for("version", !version.empty(), {"Create", "UpdateParameters", "UpgradeMinorVersion", "ChangeClass"});
    bool has_resources = !resources.cpu.empty() || !resources.memory.empty() || !resources.klass.empty();
    only_for("resources", has_resources, {"Create", "UpdateParameters", "UpgradeMinorVersion", "ChangeClass"});
  }
}

void OperationSpec::check(const std::string& path, FieldErrors& errs) const {
  if (!operation_type_implemented(type) && !accept_unimplemented) return;  // check_new says so, first
  auto need = [&](const char* field, bool present) {
    if (!present) errs.push_back({join_path(path, field), "required value for type " + type});
  };
  if (type == "RestartInstance" || type == "RebuildInstance" || type == "MigrateInstance") {
    need("instance", !instance.empty());
  }
  if (type == "MigrateInstance") need("node", !node.empty());
  if (type == "ScaleReaders") need("readers", readers.has_value());
  if (!instance.empty()) {
    if (auto why = check_dns_label(instance); !why.empty()) errs.push_back({join_path(path, "instance"), why});
  }
  if (!target.empty()) {
    if (auto why = check_dns_label(target); !why.empty()) errs.push_back({join_path(path, "target"), why});
  }
  if (resume && cancel) errs.push_back({join_path(path, "cancel"), "cannot be set together with spec.resume"});
}

}  // namespace polarstack::api
