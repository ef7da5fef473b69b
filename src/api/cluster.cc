#include "api/cluster.h"

#include <regex>
#include <set>

namespace polarstack::api {

namespace {
// Parameters polarstack owns: setting them would break replication, HA or endpoints.
const std::set<std::string> kManagedParameters = {
    "port", "listen_addresses", "data_directory", "hba_file", "ident_file", "config_file",
    "primary_conninfo", "primary_slot_name", "synchronous_standby_names", "restore_command",
    "recovery_target_timeline", "hot_standby", "wal_level", "unix_socket_directories", "cluster_name",
    "wal_receiver_status_interval", "wal_receiver_timeout",  // the lease is renewed by replies
    "wal_retrieve_retry_interval",                            // promotions and rejoins wait on it
};
}  // namespace

std::string ClusterSpec::check_parameter_name(const std::string& name) {
  static const std::regex re("^[a-z_][a-z0-9_]*(\\.[a-z_][a-z0-9_]*)?$");
  if (!std::regex_match(name, re)) return "is not a valid PostgreSQL parameter name";
  if (kManagedParameters.count(name)) return "is managed by polarstack and cannot be set";
  return "";
}

void ClusterSpec::check_new(const std::string& path, FieldErrors& errs) const {
  // Accepted by the schema, not acted on yet: refused rather than stored and ignored.
  auto not_yet = [&](const char* field, const std::string& what) {
    errs.push_back({join_path(path, field), "is not implemented in this release (" + what + "); leave it unset"});
  };
  if (!resources.cpu.empty() && check_quantity(resources.cpu).empty()) not_yet("resources.cpu", "instances run without CPU limits");
  if (!resources.memory.empty() && check_quantity(resources.memory).empty()) {
    not_yet("resources.memory", "instances run without memory limits");
  }
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
  if (!primary.empty()) {
    std::string why = check_dns_label(primary);
    if (!why.empty()) errs.push_back({join_path(path, "primary"), why});
  }
}

}  // namespace polarstack::api
