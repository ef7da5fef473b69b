// polarctl's commands that create a PolarDBOperation and may follow it to the end:
// switchover and restart.
#include "cmd/polarctl/commands.h"

#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include "core/yaml.h"

namespace polarstack::polarctl {

using core::Json;

// ---------------------------------------------------------------------------------------
namespace {
// Creates `op` (named by the server from its generateName), says so, and with --wait
// follows it to the end. `done` prints the success line from the finished operation.
int create_operation(kube::Client& c, const Options& o, const std::string& ns, const Json& op, const std::string& what,
                     const std::function<void(const Json&)>& done, std::ostream& out, std::ostream& err) {
  auto r = c.create(kube::operations_ref(), ns, op);
  if (!r) {
    print_error(err, r.error());
    return 1;
  }
  std::string name = core::string_at(*r, "metadata.name");
  std::string cluster = core::string_at(op, "spec.clusterRef");
  out << display(kube::operations_ref(), name) << " created: " << what << "\n";
  if (!o.wait) {
    out << "Follow it with: polarctl ops " << cluster << " -w\n";
    return 0;
  }
  std::string last, kind = core::string_at(op, "spec.type");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(15);
  while (std::chrono::steady_clock::now() < deadline) {
    auto cur_op = c.get(kube::operations_ref(), ns, name);
    if (cur_op) {
      std::string phase = core::string_at(*cur_op, "status.phase");
      std::string line = phase + " " + core::string_at(*cur_op, "status.progress") + " " + core::string_at(*cur_op, "status.message");
      if (line != last) {
        out << "  " << (phase.empty() ? "Pending" : phase) << ": " << core::string_at(*cur_op, "status.progress")
            << (core::string_at(*cur_op, "status.message").empty() ? "" : " (" + core::string_at(*cur_op, "status.message") + ")") << "\n";
        out.flush();
        last = line;
      }
      if (phase == "Succeeded") {
        done(*cur_op);
        return 0;
      }
      if (phase == "Failed" || phase == "Interrupted" || phase == "Cancelled") {
        err << kind << " " << phase << ": " << core::string_at(*cur_op, "status.message") << "\n";
        return 1;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the operation's status
  }
  err << kind << " still running after 15 min: polarctl describe op " << name << "\n";
  return 1;
}

bool has_instance(const Json& cluster, const std::string& name) {
  bool known = false;
  if (const Json* is = core::find_path(cluster, "status.instances"); is && is->is_array()) {
    for (const auto& i : *is) known = known || i.value("name", "") == name;
  }
  return known;
}

// The cluster an operation is for, or nullopt after saying why not.
std::optional<Json> cluster_or_error(kube::Client& c, const std::string& ns, const std::string& name, std::ostream& err) {
  auto cur = c.get(kube::clusters_ref(), ns, name);
  if (!cur) {
    print_error(err, cur.error());
    return std::nullopt;
  }
  return *cur;
}

Json operation_of(const std::string& ns, const std::string& cluster, const std::string& suffix, Json spec) {
  // The server names it (a random suffix): two in one second do not collide.
  return {{"apiVersion", "polarstack.io/v1"}, {"kind", "PolarDBOperation"},
          {"metadata", {{"generateName", cluster + "-" + suffix + "-"}, {"namespace", ns}}}, {"spec", std::move(spec)}};
}
}  // namespace

int cmd_switchover(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() != 1) {
    err << "error: usage: polarctl switchover <cluster> [--to <instance>] [--wait]\n";
    return 2;
  }
  std::string ns = namespace_of(c, o), cluster = o.args[0];
  auto cur = cluster_or_error(c, ns, cluster, err);
  if (!cur) return 1;
  if (!o.to.empty() && !has_instance(*cur, o.to)) {
    err << "error: --to: " << cluster << " has no instance named \"" << o.to << "\"\n";
    return 1;
  }
  Json spec = {{"clusterRef", cluster}, {"type", "Switchover"}};
  if (!o.to.empty()) spec["target"] = o.to;
  return create_operation(
      c, o, ns, operation_of(ns, cluster, "switchover", spec),
      "switchover of " + cluster + (o.to.empty() ? " to the best reader" : " to " + o.to),
      [&](const Json& op) {
        std::string to = core::string_at(op, "status.context.target");
        std::string ms = core::string_at(op, "status.context.writeUnavailableMs");
        out << "switchover done: " << to << " is the primary" << (ms.empty() ? "" : "; writes were refused for " + ms + " ms") << "\n";
      },
      out, err);
}

int cmd_restart(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.args.empty() || o.args.size() > 2 || (o.in_place && o.args.size() != 2)) {
    err << "error: usage: polarctl restart <cluster> [<instance> [--in-place]] [--wait]\n";
    return 2;
  }
  std::string ns = namespace_of(c, o), cluster = o.args[0];
  auto cur = cluster_or_error(c, ns, cluster, err);
  if (!cur) return 1;
  std::string instance = o.args.size() == 2 ? o.args[1] : "";
  if (!instance.empty() && !has_instance(*cur, instance)) {
    err << "error: " << cluster << " has no instance named \"" << instance << "\"\n";
    return 1;
  }
  Json spec = {{"clusterRef", cluster}, {"type", instance.empty() ? "RestartCluster" : "RestartInstance"}};
  if (!instance.empty()) spec["instance"] = instance;
  if (o.in_place) spec["method"] = "InPlace";
  std::string what = instance.empty() ? "rolling restart of " + cluster + " (readers in place, then one switchover)"
                                      : "restart of " + instance + (o.in_place ? " in place" : "");
  return create_operation(
      c, o, ns, operation_of(ns, cluster, "restart", spec), what,
      [&](const Json& op) {
        std::string to = core::string_at(op, "status.context.target");
        std::string noop = core::string_at(op, "status.context.noop");
        std::string ms = core::string_at(op, "status.context.writeUnavailableMs");
        out << "restart done" << (noop == "false" && !to.empty() ? ": " + to + " is the primary" : "")
            << (noop == "false" && !ms.empty() ? "; writes were refused for " + ms + " ms" : "") << "\n";
      },
      out, err);
}

// The PostgreSQL builds the server can run (published by it as the ConfigMap
// default/polarstack-engines, see instance/engines.h).
int cmd_engines(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (!o.args.empty()) {
    err << "error: usage: polarctl engines\n";
    return 2;
  }
  static const kube::ResourceRef configmaps{"", "v1", "configmaps", "ConfigMap", true};
  auto cm = c.get(configmaps, "default", "polarstack-engines");
  if (!cm) {
    print_error(err, cm.error());
    return 1;
  }
  if (o.output == "json" || o.output == "yaml") {
    out << (o.output == "json" ? cm->dump(2) + "\n" : core::to_yaml(*cm));
    return 0;
  }
  const Json& data = cm->value("data", Json::object());
  std::string versions = data.value("versions", "");
  out << "VERSION   DEFAULT   BINARIES\n";
  size_t at = 0;
  while (at < versions.size()) {
    size_t comma = versions.find(',', at);
    std::string v = versions.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    std::string where = data.value(v, "");
    bool system = where.ends_with(" (system)");
    char line[512];
    std::snprintf(line, sizeof line, "%-9s %-9s %s\n", v.c_str(), system ? "yes" : "", where.c_str());
    out << line;
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  out << "spec.version \"15\" runs the default; \"15.<minor>\" one of these (add one: scripts/install-engine.sh 15.<minor>)\n";
  return 0;
}

}  // namespace polarstack::polarctl
