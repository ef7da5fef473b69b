#include "cluster/cluster_controller.h"

#include <cstdlib>

#include "cluster/planner.h"
#include "cluster/workflows.h"
#include "core/log.h"
#include "core/lsn.h"
#include "core/time.h"

namespace polarstack::cluster {

using core::Json;

namespace {
Json condition(const std::string& type, bool status, const std::string& reason, const std::string& message) {
  return {{"type", type}, {"status", status ? "True" : "False"}, {"reason", reason}, {"message", message}};
}

// Replaces the conditions of our types, keeping lastTransitionTime when status is unchanged.
Json merge_conditions(const Json& current, const std::vector<Json>& ours) {
  Json out = Json::array();
  for (const auto& c : current.is_array() ? current : Json::array()) {
    bool replaced = false;
    for (const auto& o : ours) replaced = replaced || o["type"] == c.value("type", "");
    if (!replaced) out.push_back(c);
  }
  for (auto o : ours) {
    // As the server stores it: an empty message is left out (else every comparison with
    // the stored conditions differs, and status is patched again and again for nothing).
    if (o.contains("message") && o["message"].is_string() && o["message"].get<std::string>().empty()) o.erase("message");
    o["lastTransitionTime"] = core::rfc3339_now();
    for (const auto& c : current.is_array() ? current : Json::array()) {
      if (c.value("type", "") == o["type"] && c.value("status", "") == o["status"]) {
        o["lastTransitionTime"] = c.value("lastTransitionTime", o["lastTransitionTime"].get<std::string>());
      }
    }
    out.push_back(o);
  }
  return out;
}
}  // namespace

void ClusterController::plan(const std::vector<Json>& clusters, const std::vector<Json>& operations) {
  for (const auto& c : clusters) {
    std::vector<Json> mine;
    for (const auto& o : operations) {
      if (core::string_at(o, "metadata.namespace") == core::string_at(c, "metadata.namespace") &&
          core::string_at(o, "spec.clusterRef") == core::string_at(c, "metadata.name")) {
        mine.push_back(o);
      }
    }
    apply_plan(c, mine);
  }
}

void ClusterController::apply_plan(const Json& cluster, const std::vector<Json>& operations) {
  std::string ns = core::string_at(cluster, "metadata.namespace"), name = core::string_at(cluster, "metadata.name");
  Plan p = cluster::plan(cluster, operations);
  if (p.add_finalizer) {
    Json finalizers = core::find_path(cluster, "metadata.finalizers") ? cluster["metadata"]["finalizers"] : Json::array();
    finalizers.push_back(kFinalizer);
    Json patch = {{"metadata", {{"finalizers", finalizers},
                                {"resourceVersion", core::string_at(cluster, "metadata.resourceVersion")}}}};
    if (auto st = api_.patch_cluster(ns, name, patch); !st) return;  // retried on the next pass
  }
  for (const auto& s : p.supersede) {
    for (const auto& o : operations) {
      if (core::string_at(o, "metadata.name") != s) continue;
      if (auto st = ops_.supersede(o); !st) core::log_info("operator", s + " continues: " + st.error().message);
    }
  }
  if (p.create) {
    auto st = api_.create_operation(ns, *p.create);
    if (st) {
      api_.record_event(cluster, "Normal", "OperationPlanned",
                        core::string_at(*p.create, "spec.type") + " planned as " + core::string_at(*p.create, "metadata.name"));
    } else if (st.error().code == core::Code::kAlreadyExists) {
      remove_stale_operation(cluster, operations, core::string_at(*p.create, "metadata.name"));
    } else {
      core::log_warn("operator", "cannot create " + core::string_at(*p.create, "metadata.name") + ": " + st.error().message);
    }
  }
  if (p.observed_generation) {
    api_.patch_cluster_status(ns, name, {{"status", {{"observedGeneration", *p.observed_generation}}}});
  }
}

// A derived operation's name (<cluster>-<type>-g<generation>) is taken by a finished one
// of an earlier cluster of the same name (deleted, then applied again): that is history
// of a cluster that is gone. It goes, so the next pass can create this cluster's own;
// left in place, the new cluster would wait for an operation that never comes.
void ClusterController::remove_stale_operation(const Json& cluster, const std::vector<Json>& operations,
                                               const std::string& name) {
  std::string uid = core::string_at(cluster, "metadata.uid");
  for (const auto& o : operations) {
    if (core::string_at(o, "metadata.name") != name) continue;
    const Json* labels = core::find_path(o, "metadata.labels");
    std::string owner = labels && labels->is_object() ? labels->value(kClusterUidLabel, "") : "";
    std::string phase = core::string_at(o, "status.phase");
    if (owner == uid || (phase != "Succeeded" && phase != "Cancelled" && phase != "Failed")) return;
    std::string ns = core::string_at(o, "metadata.namespace");
    if (auto st = api_.delete_operation(ns, name); !st) {
      core::log_warn("operator", "cannot remove " + name + " of an earlier cluster: " + st.error().message);
      return;
    }
    api_.record_event(cluster, "Normal", "StaleOperationRemoved",
                      name + " (" + phase + ") belonged to an earlier cluster of this name; removed to plan this one's");
    return;
  }
}

Json ClusterController::observed_status(const Json& cluster) {
  runtime::ClusterKey c{core::string_at(cluster, "metadata.namespace"), core::string_at(cluster, "metadata.name")};
  bool deleting = !core::string_at(cluster, "metadata.deletionTimestamp").empty();
  auto all = rt_.list_instances(c);
  Json instances = Json::array();
  std::string primary;
  uint64_t primary_lsn = 0;
  int ready = 0, ready_readers = 0;
  std::vector<std::string> not_ready;
  std::vector<std::pair<size_t, std::string>> replica_lsn;
  std::vector<std::string> unreachable;  // past kUnreachableAfter: "name at host:port (error)"
  const auto now = std::chrono::steady_clock::now();
  for (const auto& i : all ? *all : std::vector<runtime::InstanceInfo>{}) {
    if (!i.manager_running && !deleting) {
      core::log_warn("operator", "instance manager of " + c.str() + "/" + i.name + " is not running: starting it again");
      rt_.ensure_instance(c, {i.name, "", "", i.node, {}});
    }
    auto s = rt_.instance_state(c, i.name);
    runtime::InstanceState st = s ? *s : runtime::InstanceState{};
    std::string k = c.str() + "/" + i.name;
    if (st.reachable) {
      unreachable_since_.erase(k);
    } else {
      auto since = unreachable_since_.emplace(k, now).first->second;
      if (now - since >= kUnreachableAfter) {
        std::string why = s ? st.last_error : s.error().message;
        // No running count in the text: status is written only when it changes.
        unreachable.push_back(i.name + " at " + i.host + ":" + std::to_string(i.api_port) + " (" +
                              (why.empty() ? "no answer" : why) + ")");
      }
    }
    std::string role = st.reachable && st.role != "unknown" ? st.role : "unknown";
    Json inst = {{"name", i.name}, {"role", role}, {"node", i.node}, {"ready", st.ready}, {"lsn", st.lsn},
                 {"lagBytes", 0}, {"version", st.version}, {"port", i.port},
                 {"host", i.host}};
    if (!st.applied_parameters.empty()) inst["parameters"] = st.applied_parameters;
    if (!st.pending_restart.empty()) inst["pendingRestart"] = st.pending_restart;
    if (!st.cpu.empty()) inst["cpu"] = st.cpu;
    if (!st.memory.empty()) inst["memory"] = st.memory;
    if (st.ready && role == "replica") ++ready_readers;
    if (st.ready) ++ready;
    else not_ready.push_back(i.name + (st.last_error.empty() ? "" : " (" + st.last_error + ")"));
    if (role == "primary" && st.ready) {
      primary = i.name;
      primary_lsn = core::parse_lsn(st.lsn).value_or(0);
    } else if (role == "replica") {
      replica_lsn.push_back({instances.size(), st.lsn});
    }
    auto prev = ready_.find(k);
    if (prev == ready_.end() ? st.ready : prev->second != st.ready) {
      api_.record_event(cluster, st.ready ? "Normal" : "Warning", st.ready ? "InstanceReady" : "InstanceNotReady",
                        i.name + (st.ready ? " is ready as " + role : " is not ready: " + (st.last_error.empty() ? st.state : st.last_error)));
    }
    ready_[k] = st.ready;
    instances.push_back(inst);
  }
  for (auto& [idx, lsn] : replica_lsn) {
    auto v = core::parse_lsn(lsn);
    if (v && primary_lsn > *v) instances[idx]["lagBytes"] = static_cast<int64_t>(primary_lsn - *v);
  }
  // Every created cluster has its Cluster Manager (it reads spec.ha itself).
  const Json* og = core::find_path(cluster, "status.observedGeneration");
  bool created = og && og->is_number_integer() && og->get<int64_t>() > 0;
  if (!deleting && created && !rt_.cluster_manager_running(c)) {
    auto st = rt_.ensure_cluster_manager(c);
    api_.record_event(cluster, st ? "Normal" : "Warning", "ClusterManagerStarted",
                      st ? "the Cluster Manager was not running; started it"
                         : "the Cluster Manager is not running and cannot be started: " + st.error().message);
  }
  // A proxy that died (kill -9, OOM) is started again on the ports in status.
  if (!deleting) {
    auto ep_port = [&](const char* which) {
      std::string ep = core::string_at(cluster, std::string("status.endpoints.") + which);
      auto colon = ep.rfind(':');
      return colon == std::string::npos ? 0 : std::atoi(ep.c_str() + colon + 1);
    };
    int rw = ep_port("readWrite"), ro = ep_port("readOnly");
    if (rw > 0 && ro > 0 && !rt_.endpoints_running(c)) {
      core::log_warn("operator", "endpoints proxy of " + c.str() + " is not running: starting it again");
      auto ep = rt_.ensure_endpoints(c, rw, ro);
      api_.record_event(cluster, "Warning", "EndpointsRestarted",
                        ep ? "the endpoints proxy was not running; started it again on ports " + std::to_string(rw) +
                                 " and " + std::to_string(ro)
                           : "the endpoints proxy is not running and cannot be started: " + ep.error().message);
    }
  }
  const Json* r = core::find_path(cluster, "spec.readers");
  int want = 1 + (r && r->is_number_integer() ? r->get<int>() : 0);
  const Json* gen = core::find_path(cluster, "metadata.generation");
  bool observed = created && gen && gen->is_number_integer() && og->get<int64_t>() >= gen->get<int64_t>();
  std::string op = core::string_at(cluster, "status.operation.name");
  bool interrupted = false;
  if (const Json* conds = core::find_path(cluster, "status.conditions"); conds && conds->is_array()) {
    for (const auto& cd : *conds) interrupted = interrupted || (cd.value("type", "") == "Interrupted" && cd.value("status", "") == "True");
  }
  bool all_ready = !primary.empty() && ready == want && static_cast<int>(instances.size()) == want;
  std::vector<Json> conds;
  // Each condition carries the generation it was computed for (kubectl wait treats an
  // older one as stale).
  auto condition = [g = gen && gen->is_number_integer() ? gen->get<int64_t>() : 0](
                       const std::string& type, bool status, const std::string& reason, const std::string& message) {
    Json c = cluster::condition(type, status, reason, message);
    c["observedGeneration"] = g;
    return c;
  };
  if (all_ready) conds.push_back(condition("Ready", true, "AllInstancesReady", std::to_string(ready) + "/" + std::to_string(want) + " instances ready"));
  else if (primary.empty()) conds.push_back(condition("Ready", false, created ? "PrimaryNotReady" : "Creating", "no ready primary"));
  else conds.push_back(condition("Ready", false, "InstancesNotReady", std::to_string(ready) + "/" + std::to_string(want) + " instances ready"));
  conds.push_back(op.empty() ? condition("Progressing", false, "Idle", "")
                             : condition("Progressing", true, "OperationRunning", core::string_at(cluster, "status.operation.type") + " " + op));
  bool degraded = created && !not_ready.empty();
  std::string nr;
  for (const auto& n : not_ready) nr += (nr.empty() ? "" : ", ") + n;
  conds.push_back(degraded ? condition("Degraded", true, primary.empty() ? "PrimaryNotReady" : "InstanceNotReady", "not ready: " + nr)
                           : condition("Degraded", false, "AllInstancesReady", ""));
  std::string ur;
  for (const auto& u : unreachable) ur += (ur.empty() ? "" : "; ") + u;
  conds.push_back(unreachable.empty()
                      ? condition("InstanceUnreachable", false, "AllInstancesReachable", "")
                      : condition("InstanceUnreachable", true, "InstanceUnreachable",
                                  "the instance manager of " + ur + " has not answered for over " +
                                      std::to_string(kUnreachableAfter.count()) + " s"));
  bool was_unreachable = false;
  if (const Json* cs = core::find_path(cluster, "status.conditions"); cs && cs->is_array()) {
    for (const auto& cd : *cs) {
      was_unreachable = was_unreachable || (cd.value("type", "") == "InstanceUnreachable" && cd.value("status", "") == "True");
    }
  }
  if (!unreachable.empty() && !was_unreachable) {
    api_.record_event(cluster, "Warning", "InstanceUnreachable",
                      "the instance manager of " + ur + " has not answered for over " + std::to_string(kUnreachableAfter.count()) + " s");
  }
  std::string phase = deleting      ? "Deleting"
                      : interrupted ? "Interrupted"
                      : !created    ? "Creating"
                      : degraded    ? "Degraded"
                      : !observed || !op.empty() ? "Updating"
                      : all_ready   ? "Running"
                                    : "Updating";
  Json status = {{"instances", instances}, {"currentPrimary", primary}, {"readyInstances", ready},
                 {"readyReaders", ready_readers}, {"phase", phase},
                 {"selector", "polarstack.io/cluster=" + c.name + ",polarstack.io/role=replica"}};
  status["conditions"] = merge_conditions(core::find_path(cluster, "status.conditions") ? cluster["status"]["conditions"] : Json::array(), conds);
  return status;
}

bool ClusterController::observe(const std::vector<Json>& clusters) {
  bool busy = false;
  for (const auto& cluster : clusters) {
    Json status = observed_status(cluster);
    std::string phase = status.value("phase", "");
    busy = busy || phase == "Creating" || phase == "Updating" || phase == "Deleting";
    Json current = cluster.value("status", Json::object());
    bool same = true;
    std::string differs;
    for (auto& [k, v] : status.items()) {
      bool was = same;
      if (k == "conditions") {
        // Compare without timestamps.
        auto strip = [](Json cs) {
          for (auto& c : cs) c.erase("lastTransitionTime");
          return cs;
        };
        same = same && current.contains(k) && strip(current[k]) == strip(v);
      } else {
        same = same && current.contains(k) && current[k] == v;
      }
      if (was && !same) differs = k;
    }
    if (same) continue;
    core::log_debug("operator", "status of " + core::string_at(cluster, "metadata.name") + " differs in " + differs + ": " +
                                    (current.contains(differs) ? current[differs].dump() : "(absent)") + " -> " +
                                    status[differs].dump());
    // The very patch already sent against this very version: the server found nothing to
    // change (it stores the status in another form). Sending it again changes nothing.
    std::string rv = core::string_at(cluster, "metadata.resourceVersion");
    std::string key = core::string_at(cluster, "metadata.namespace") + "/" + core::string_at(cluster, "metadata.name");
    std::string body = status.dump();
    if (auto it = last_patch_.find(key); it != last_patch_.end() && it->second.first == rv && it->second.second == body) {
      continue;
    }
    busy = true;
    Json patch = {{"metadata", {{"resourceVersion", rv}}}, {"status", status}};
    if (api_.patch_cluster_status(core::string_at(cluster, "metadata.namespace"), core::string_at(cluster, "metadata.name"), patch)) {
      last_patch_[key] = {rv, body};
    }
  }
  return busy;
}

}  // namespace polarstack::cluster
