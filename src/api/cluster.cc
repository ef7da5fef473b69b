#include "api/cluster.h"

#include "api/instance_class.h"
#include "api/parameters.h"

#include <algorithm>
#include <regex>
#include <set>

namespace polarstack::api {

std::string ClusterSpec::check_parameter_name(const std::string& name) {
  static const std::regex re("^[a-zA-Z_][a-zA-Z0-9_]*(\\.[a-z_][a-z0-9_]*)?$");
  if (!std::regex_match(name, re)) return "is not a valid PostgreSQL parameter name";
  return "";
}

std::string ClusterSpec::check_version(const std::string& version) {
  static const std::regex minor("^15(\\.[0-9]{1,3})?$"), number("^([0-9]+)(\\.[0-9]+)?$");
  std::smatch m;
  if (std::regex_match(version, minor)) return "";
  if (std::regex_match(version, m, number)) {
    return "major version " + m[1].str() + " is not supported: this release runs PostgreSQL 15 (15 or 15.<minor>; "
           "a major version upgrade comes with a later release), got \"" + version + "\"";
  }
  return "must be 15 or 15.<minor> (e.g. 15.20), got \"" + version + "\"";
}

void ClusterSpec::check_update(const ClusterSpec& old, const std::string& path, FieldErrors& errs) const {
  // What this release cannot change on an existing cluster (the rest either acts, or
  // is refused at creation).
  auto frozen = [&](const char* field, const Json& was, const Json& is) {
    if (was == is) return;
    errs.push_back({join_path(path, field), "cannot be changed on an existing cluster in this release (only "
                                            "spec.readers, spec.primary, spec.parameters, spec.version, spec.resources, "
                                            "spec.storage.retainOnDelete and spec.ha can)"});
  };
  // Releases before 2026-12-04 filled storage.size "10Gi" in by default and did nothing
  // with it: a cluster stored then may drop it (an apply of a manifest without it).
  if (!(old.storage.size == "10Gi" && storage.size.empty())) frozen("storage.size", old.storage.size, storage.size);
  frozen("storage.autoGrow", encode(old.storage.autoGrow), encode(storage.autoGrow));
  frozen("replication", encode(old.replication), encode(replication));
  frozen("standby", encode(old.standby), encode(standby));
  frozen("endpoints", encode(old.endpoints), encode(endpoints));
  // A standby stops replaying when its primary's value of one of these is higher than
  // its own: raises roll out to the replicas first, lowerings to the primary first, so
  // one update cannot do both.
  std::string raised, lowered;
  auto value_in = [](const std::map<std::string, std::string>& m, const std::string& n) {
    auto it = m.find(n);
    return it == m.end() ? std::string() : it->second;
  };
  std::set<std::string> names;
  for (const auto& [n, v] : old.parameters) names.insert(n);
  for (const auto& [n, v] : parameters) names.insert(n);
  for (const auto& n : names) {
    if (!standby_must_not_be_lower(n)) continue;
    int dir = parameter_direction(n, value_in(old.parameters, n), value_in(parameters, n));
    if (dir > 0 && raised.empty()) raised = n;
    if (dir < 0 && lowered.empty()) lowered = n;
  }
  if (!raised.empty() && !lowered.empty()) {
    errs.push_back({join_path(path, "parameters") + "[" + lowered + "]",
                    "cannot be lowered in the update that raises " + raised + ": a replica must hold " + raised + " and " +
                        lowered + " at least as high as its primary, so a raise rolls out to the replicas first and a "
                        "lowering to the primary first; make them two updates"});
  }
}

void ClusterSpec::check_new(const std::string& path, FieldErrors& errs) const {
  // Accepted by the schema, not acted on yet: refused rather than stored and ignored.
  auto not_yet = [&](const char* field, const std::string& what) {
    errs.push_back({join_path(path, field), "is not implemented in this release (" + what + "); leave it unset"});
  };
  if (!storage.size.empty() && check_quantity(storage.size).empty()) {
    not_yet("storage.size", "instances use the data root's file system without a size of their own");
  }
  if (storage.autoGrow.enabled) not_yet("storage.autoGrow.enabled", "storage does not grow by itself");
  if (!storage.autoGrow.maxSize.empty() && check_quantity(storage.autoGrow.maxSize).empty()) {
    not_yet("storage.autoGrow.maxSize", "storage does not grow by itself");
  }
  if (storage.autoGrow.thresholdPercent != 80 && storage.autoGrow.thresholdPercent >= 50 &&
      storage.autoGrow.thresholdPercent <= 95) {
    not_yet("storage.autoGrow.thresholdPercent", "storage does not grow by itself");
  }
  if (standby.enabled) not_yet("standby.enabled", "readers are the only replicas; a standby comes with a later release");
  if (!standby.node.empty()) not_yet("standby.node", "there is no standby instance yet");
}

void ClusterSpec::check(const std::string& path, FieldErrors& errs) const {
  if (replication.mode == "sync") {
    int replicas = readers + (standby.enabled ? 1 : 0);
    if (replication.syncReplicas > replicas) {
      errs.push_back({join_path(path, "replication.syncReplicas"),
                      "must not exceed the number of replicas (spec.readers plus standby: " + std::to_string(replicas) +
                          ") in sync mode, got " + std::to_string(replication.syncReplicas)});
    }
  }
  if (ha.failureTimeoutMs < ha.probeIntervalMs) {
    errs.push_back({join_path(path, "ha.failureTimeoutMs"),
                    "must be at least spec.ha.probeIntervalMs (" + std::to_string(ha.probeIntervalMs) + "), got " +
                        std::to_string(ha.failureTimeoutMs)});
  }
  if (ha.leaseMs >= 1000 && ha.leaseMs < 3 * ha.probeIntervalMs) {  // (out of range: said already)
    errs.push_back({join_path(path, "ha.leaseMs"), "must be at least 3 x spec.ha.probeIntervalMs (" +
                                                       std::to_string(3 * ha.probeIntervalMs) + "), got " +
                                                       std::to_string(ha.leaseMs)});
  }
  for (auto [field, port] : {std::pair{"endpoints.readWritePort", endpoints.readWritePort},
                              std::pair{"endpoints.readOnlyPort", endpoints.readOnlyPort}}) {
    if (port != 0 && port < 1024) {
      errs.push_back({join_path(path, field), "must be 0 (allocated) or a port from 1024 to 65535, got " + std::to_string(port)});
    }
  }
  if (endpoints.readWritePort != 0 && endpoints.readWritePort == endpoints.readOnlyPort) {
    errs.push_back({join_path(path, "endpoints.readOnlyPort"),
                    "must differ from spec.endpoints.readWritePort (" + std::to_string(endpoints.readWritePort) + ")"});
  }
  if (!resources.klass.empty() && (!resources.cpu.empty() || !resources.memory.empty())) {
    errs.push_back({join_path(path, "resources.class"), "cannot be set together with spec.resources.cpu or "
                                                         "spec.resources.memory (a class names both)"});
  }
  if (!resources.klass.empty()) {
    static const std::regex name("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$");
    if (!std::regex_match(resources.klass, name)) {
      errs.push_back({join_path(path, "resources.class"), "must be a ConfigMap key such as polar.pg.x2.medium (lowercase "
                                                           "letters, digits, '-' and '.'), got \"" + resources.klass + "\""});
    }
  }
  if (auto m = memory_bytes(resources.memory); m && *m < (int64_t{256} << 20)) {
    errs.push_back({join_path(path, "resources.memory"), "must be at least 256Mi (PostgreSQL with its memory parameters "
                                                          "sized from it), got " + resources.memory});
  }
  if (auto c = cpu_millis(resources.cpu); c && *c < 100) {
    errs.push_back({join_path(path, "resources.cpu"), "must be at least 100m, got " + resources.cpu});
  }
  for (const auto& [name, value] : parameters) {
    if (!check_parameter_name(name).empty()) continue;  // said by the decoder
    std::string at = join_path(path, "parameters") + "[" + name + "]";
    if (std::any_of(errs.begin(), errs.end(), [&](const auto& e) { return e.field == at; })) continue;  // not a string
    if (std::string why = check_parameter(name, value); !why.empty()) {
      errs.push_back({at, why});
      continue;
    }
    // Every replica streams through a WAL sender and a slot, and one more is kept for a
    // clone or a rewind.
    if (name == "max_wal_senders" || name == "max_replication_slots") {
      auto v = parameter_number(name, value);
      int need = readers + (standby.enabled ? 1 : 0) + 2;
      if (v && *v < need) {
        errs.push_back({at, "must be at least spec.readers + 2 (" + std::to_string(need) + "): every replica streams "
                            "through one and a clone or rewind needs another, got " + value});
      }
    }
  }
  if (!primary.empty()) {
    std::string why = check_dns_label(primary);
    if (!why.empty()) errs.push_back({join_path(path, "primary"), why});
  }
}

}  // namespace polarstack::api
