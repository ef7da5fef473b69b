#include "api/operation.h"

namespace polarstack::api {

void OperationSpec::check(const std::string& path, FieldErrors& errs) const {
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
