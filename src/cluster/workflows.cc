#include "cluster/workflows.h"

#include "cluster/workflow_steps.h"

#include <algorithm>
#include <memory>
#include <optional>


namespace polarstack::cluster {

using core::Json;
using workflow::Step;
using workflow::StepInput;
using workflow::StepResult;

int instance_number(const std::string& cluster, const std::string& instance) {
  if (instance.size() <= cluster.size() + 1 || instance.rfind(cluster + "-", 0) != 0) return -1;
  std::string n = instance.substr(cluster.size() + 1);
  if (n.empty() || n.size() > 4 || !std::all_of(n.begin(), n.end(), ::isdigit)) return -1;
  return std::stoi(n);
}

namespace detail {

const std::string& ctx(const StepInput& in, const std::string& k) {
  static const std::string empty;
  auto it = in.instance.context.find(k);
  return it == in.instance.context.end() ? empty : it->second;
}
runtime::ClusterKey key_of(const StepInput& in) { return {ctx(in, "namespace"), ctx(in, "cluster")}; }
namespace {
int readers_of(const StepInput& in) { return std::stoi(ctx(in, "readers").empty() ? "0" : ctx(in, "readers")); }
}  // namespace

StepResult from(const core::Status& st, const std::string& what) {
  return st ? StepResult::done() : StepResult::retry(what + ": " + st.error().message);
}

// Since when the current step has been running (for timeouts of waits).
std::chrono::system_clock::duration step_age(const StepInput& in) {
  size_t cur = in.instance.current();
  const auto& steps = in.instance.active();
  if (cur >= steps.size()) return {};
  return std::chrono::system_clock::now() - steps[cur].started_at;
}

std::map<std::string, std::string> string_map(const Json* object) {
  std::map<std::string, std::string> out;
  if (object && object->is_object()) {
    for (auto& [k, v] : object->items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}
std::map<std::string, std::string> string_map(const std::string& json_text) {
  auto j = core::parse_json(json_text.empty() ? "{}" : json_text);
  return j ? string_map(&*j) : std::map<std::string, std::string>{};
}

core::Result<std::string> not_back_yet(Deps& d, const runtime::ClusterKey& c, const std::string& name,
                                       const runtime::InstanceState& s, const std::string& primary) {
  if (!s.ready) {
    return "waiting for " + name + " to be ready again (" + (s.state.empty() ? "starting" : s.state) +
           (s.last_error.empty() ? "" : ": " + s.last_error) + ")";
  }
  if (s.role != "replica" || name == primary) return std::string();
  auto all = d.rt.list_instances(c);
  if (!all) return std::unexpected(all.error());
  int primary_port = 0;
  for (const auto& i : *all) primary_port = i.name == primary ? i.port : primary_port;
  if (s.sender_port != primary_port) return "waiting for " + name + " to stream from " + primary + " again";
  return std::string();
}

// The instance PostgreSQL reports as primary, else the one created as primary.
std::string primary_of(Deps& d, const runtime::ClusterKey& c, const std::vector<runtime::InstanceInfo>& all) {
  std::string created;
  for (const auto& i : all) {
    auto s = d.rt.instance_state(c, i.name);
    if (s && s->role == "primary") return i.name;
    if (i.role == "primary" && created.empty()) created = i.name;
  }
  return created;
}

// Waits until every listed instance is ready; interrupts on a crash loop or a timeout.
StepResult wait_ready(Deps& d, const StepInput& in, const std::vector<std::string>& names) {
  auto c = key_of(in);
  std::vector<std::string> waiting;
  for (const auto& n : names) {
    auto s = d.rt.instance_state(c, n);
    if (!s) return StepResult::retry(s.error().message);
    if (s->state == "CrashLoop") {
      return StepResult::interrupt("InstanceCrashLoop", n + " keeps crashing: " + s->last_error);
    }
    if (!s->ready) waiting.push_back(n + " (" + (s->state.empty() ? "starting" : s->state) +
                                     (s->last_error.empty() ? "" : ": " + s->last_error) + ")");
  }
  if (waiting.empty()) return StepResult::done();
  if (step_age(in) > d.opts.ready_timeout) {
    return StepResult::interrupt("InstanceNotReady", "not ready after " +
                                                         std::to_string(d.opts.ready_timeout.count()) + " min: " + waiting.front());
  }
  std::string msg = "waiting for " + waiting.front();
  if (waiting.size() > 1) msg += " and " + std::to_string(waiting.size() - 1) + " more";
  return StepResult::wait(msg, d.opts.poll);
}

// Readers (every instance but the primary), ordered by number.
std::vector<runtime::InstanceInfo> readers(const std::vector<runtime::InstanceInfo>& all, const std::string& primary,
                                           const std::string& cluster) {
  std::vector<runtime::InstanceInfo> out;
  for (const auto& i : all) {
    if (i.name != primary) out.push_back(i);
  }
  std::sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    return instance_number(cluster, a.name) < instance_number(cluster, b.name);
  });
  return out;
}

namespace {

// Adds readers (slot first, then the clone) until there are `target`.
StepResult add_readers(Deps& d, const StepInput& in, int target) {
  auto c = key_of(in);
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  std::string primary = primary_of(d, c, *all);
  if (primary.empty()) return StepResult::retry("the cluster has no primary");
  auto cluster = d.api.get_cluster(c.ns, c.name);
  if (!cluster) return StepResult::retry(cluster.error().message);
  auto have = readers(*all, primary, c.name);
  // A new reader runs with what its primary runs with (which is spec.parameters unless a
  // rollout of new ones is under way or was rolled back).
  auto ps = d.rt.instance_state(c, primary);
  if (!ps || !ps->reachable) return StepResult::retry("cannot ask " + primary + " for its parameters");
  auto params = ps->parameters.empty() ? string_map(core::find_path(*cluster, "spec.parameters")) : ps->parameters;
  std::vector<int> used;
  for (const auto& i : *all) used.push_back(instance_number(c.name, i.name));
  for (int n = static_cast<int>(have.size()), next = 1; n < target; ++n) {
    while (std::find(used.begin(), used.end(), next) != used.end()) ++next;
    used.push_back(next);
    std::string name = c.name + "-" + std::to_string(next);
    if (auto st = d.rt.ensure_slot(c, primary, name); !st) return StepResult::retry("slot for " + name + ": " + st.error().message);
    auto info = d.rt.ensure_instance(c, {name, "replica", primary, "", params, ps->engine, ps->cpu, ps->memory});
    if (!info) return StepResult::retry(name + ": " + info.error().message);
    d.api.record_event(*cluster, "Normal", "ReaderCreated", "reader " + name + " is being cloned from " + primary +
                                                                 " on node " + info->node);
  }
  return StepResult::done();
}

StepResult wait_readers(Deps& d, const StepInput& in, int target) {
  auto c = key_of(in);
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  std::string primary = primary_of(d, c, *all);
  std::vector<std::string> names;
  for (const auto& i : readers(*all, primary, c.name)) names.push_back(i.name);
  if (static_cast<int>(names.size()) < target) return StepResult::retry("readers are missing; expected " + std::to_string(target));
  return wait_ready(d, in, names);
}

// Removes the highest-numbered readers beyond `target` (all of them for target 0).
StepResult remove_readers(Deps& d, const StepInput& in, int target, bool keep_data) {
  auto c = key_of(in);
  auto all = d.rt.list_instances(c);
  if (!all) return StepResult::retry(all.error().message);
  std::string primary = primary_of(d, c, *all);
  auto have = readers(*all, primary, c.name);
  auto cluster = d.api.get_cluster(c.ns, c.name);
  for (int i = static_cast<int>(have.size()) - 1; i >= target; --i) {
    const std::string& name = have[i].name;
    if (auto st = d.rt.remove_instance(c, name, keep_data); !st) return StepResult::retry(name + ": " + st.error().message);
    if (!primary.empty()) {
      if (auto st = d.rt.drop_slot(c, primary, name); !st) return StepResult::retry("slot of " + name + ": " + st.error().message);
    }
    if (cluster) d.api.record_event(*cluster, "Normal", "ReaderRemoved", "reader " + name + " was removed");
  }
  return StepResult::done();
}

workflow::Definition create_workflow(const std::shared_ptr<Deps>& dp) {
  workflow::Definition def;
  def.name = "Create";
  def.steps = {
      {"check-ports", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto cluster = d.api.get_cluster(c.ns, c.name);
         if (!cluster) return StepResult::retry(cluster.error().message);
         for (const char* f : {"readWritePort", "readOnlyPort"}) {
           const Json* p = core::find_path(*cluster, std::string("spec.endpoints.") + f);
           if (!p || !p->is_number_integer() || p->get<int>() == 0) continue;
           std::string why = d.rt.check_port(c, p->get<int>());
           if (!why.empty()) {
             return StepResult::fail("PortInUse", std::string("spec.endpoints.") + f + ": port " +
                                                      std::to_string(p->get<int>()) + " " + why);
           }
         }
         return StepResult::done();
       }},
      {"secrets", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         if (auto st = d.rt.ensure_secrets(c); !st) return from(st, "secrets");
         auto pw = d.rt.superuser_password(c);
         if (!pw) return StepResult::retry(pw.error().message);
         // How clients (polarctl connect/psql) log in: a Secret, as on Kubernetes.
         return from(d.api.ensure_secret(c.ns, c.name + "-superuser", {{"username", "postgres"}, {"password", *pw}}),
                     "secret");
       }},
      {"primary", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto cluster = d.api.get_cluster(c.ns, c.name);
         if (!cluster) return StepResult::retry(cluster.error().message);
         auto all = d.rt.list_instances(c);
         if (!all) return StepResult::retry(all.error().message);
         std::string name = c.name + "-0";
         for (const auto& i : *all) {
           if (i.role == "primary") name = i.name;  // created before a crash
         }
         // The parameters the Create was derived with (a Create stored by an earlier
         // release has none: the cluster's, which could not change then).
         runtime::Configuration want;
         if (in.instance.context.count("version")) {
           auto w = wanted_configuration(d, in);
           if (!w && (w.error().code == core::Code::kNotFound || w.error().code == core::Code::kInvalid)) {
             return StepResult::fail("ConfigurationInvalid", w.error().message);
           }
           if (!w) return StepResult::retry(w.error().message);
           want = *w;
         } else {
           want.parameters = in.instance.context.count("parameters") ? string_map(ctx(in, "parameters"))
                                                                     : string_map(core::find_path(*cluster, "spec.parameters"));
         }
         auto info = d.rt.ensure_instance(c, {name, "primary", "", "", want.parameters, want.engine, want.cpu, want.memory});
         if (!info && (info.error().code == core::Code::kInvalid || info.error().code == core::Code::kUnsupported)) {
           return StepResult::fail(info.error().code == core::Code::kInvalid ? "EngineNotInstalled" : "LimitsUnavailable",
                                   info.error().message);
         }
         if (!info) return StepResult::retry(info.error().message);
         d.api.record_event(*cluster, "Normal", "PrimaryCreated", "primary " + name + " is being initialized on node " +
                                                                      info->node + ", port " + std::to_string(info->port));
         return StepResult::done({{"primary", name}});
       }},
      {"wait-primary", [dp](const StepInput& in) {
         Deps& d = *dp; return wait_ready(d, in, {ctx(in, "primary")}); }},
      {"endpoints", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto cluster = d.api.get_cluster(c.ns, c.name);
         if (!cluster) return StepResult::retry(cluster.error().message);
         auto port = [&](const char* f) {
           const Json* p = core::find_path(*cluster, std::string("spec.endpoints.") + f);
           return p && p->is_number_integer() ? p->get<int>() : 0;
         };
         auto ep = d.rt.ensure_endpoints(c, port("readWritePort"), port("readOnlyPort"));
         if (!ep) {
           if (ep.error().code == core::Code::kConflict) return StepResult::fail("PortInUse", ep.error().message);
           return StepResult::retry(ep.error().message);
         }
         Json status = {{"endpoints", {{"readWrite", "127.0.0.1:" + std::to_string(ep->read_write_port)},
                                       {"readOnly", "127.0.0.1:" + std::to_string(ep->read_only_port)}}}};
         if (auto st = d.api.patch_cluster_status(c.ns, c.name, {{"status", status}}); !st) {
           return StepResult::retry(st.error().message);
         }
         return StepResult::done();
       }},
      {"readers", [dp](const StepInput& in) {
         Deps& d = *dp; return add_readers(d, in, readers_of(in)); }},
      {"wait-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return wait_readers(d, in, readers_of(in)); }},
  };
  // A Create may always be superseded (by a Delete): every later workflow converges.
  def.point_of_no_return = def.steps.size();
  return def;
}

workflow::Definition scale_workflow(const std::shared_ptr<Deps>& dp) {
  workflow::Definition def;
  def.name = "ScaleReaders";
  def.steps = {
      {"add-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return add_readers(d, in, readers_of(in)); }},
      {"wait-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return wait_readers(d, in, readers_of(in)); }},
      {"remove-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return remove_readers(d, in, readers_of(in), false); }},
  };
  def.point_of_no_return = 2;  // removing readers is not undone by a newer spec: it finishes
  return def;
}

}  // namespace

bool noop(const StepInput& in) { return ctx(in, "noop") == "true"; }

namespace {

bool retain(Deps& d, const runtime::ClusterKey& c) {
  auto cluster = d.api.get_cluster(c.ns, c.name);
  const Json* r = cluster ? core::find_path(*cluster, "spec.storage.retainOnDelete") : nullptr;
  return r && r->is_boolean() && r->get<bool>();
}

workflow::Definition delete_workflow(const std::shared_ptr<Deps>& dp) {
  workflow::Definition def;
  def.name = "Delete";
  def.steps = {
      {"remove-endpoints", [dp](const StepInput& in) {
         Deps& d = *dp;
         // The Cluster Manager goes first: it must not fail over while instances go away.
         if (auto st = d.rt.remove_cluster_manager(key_of(in)); !st) return from(st, "cluster manager");
         return from(d.rt.remove_endpoints(key_of(in)), "endpoints"); }},
      {"remove-readers", [dp](const StepInput& in) {
         Deps& d = *dp; return remove_readers(d, in, 0, retain(d, key_of(in))); }},
      {"remove-primary", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto all = d.rt.list_instances(c);
         if (!all) return StepResult::retry(all.error().message);
         bool keep = retain(d, c);
         for (const auto& i : *all) {
           if (auto st = d.rt.remove_instance(c, i.name, keep); !st) return StepResult::retry(st.error().message);
         }
         return StepResult::done();
       }},
      {"remove-cluster", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         bool keep = retain(d, c);
         if (auto st = d.rt.remove_cluster(c, keep); !st) return from(st, "cluster files");
         return keep ? StepResult::done() : from(d.api.delete_secret(c.ns, c.name + "-superuser"), "secret");
       }},
      {"release", [dp](const StepInput& in) {
         Deps& d = *dp;
         auto c = key_of(in);
         auto cluster = d.api.get_cluster(c.ns, c.name);
         if (!cluster) {
           if (cluster.error().code == core::Code::kNotFound) return StepResult::done();
           return StepResult::retry(cluster.error().message);
         }
         Json finalizers = Json::array();
         if (const Json* f = core::find_path(*cluster, "metadata.finalizers"); f && f->is_array()) {
           for (const auto& x : *f) {
             if (x != kFinalizer) finalizers.push_back(x);
           }
         }
         Json patch = {{"metadata", {{"finalizers", finalizers},
                                     {"resourceVersion", core::string_at(*cluster, "metadata.resourceVersion")}}}};
         return from(d.api.patch_cluster(c.ns, c.name, patch), "finalizer");
       }},
  };
  def.point_of_no_return = 0;
  return def;
}

}  // namespace
}  // namespace detail

void register_cluster_workflows(workflow::Engine& engine, ClusterApi& api, runtime::Runtime& rt, WorkflowOptions opts) {
  using namespace detail;
  auto d = std::make_shared<Deps>(Deps{api, rt, opts});  // shared by the steps
  engine.define(create_workflow(d));
  engine.define(scale_workflow(d));
  engine.define(delete_workflow(d));
  engine.define(switchover_workflow(d));
  engine.define(restart_workflow(d, false));
  engine.define(restart_workflow(d, true));
  engine.define(parameter_workflow(d, "UpdateParameters"));
  engine.define(parameter_workflow(d, "UpgradeMinorVersion"));
  engine.define(parameter_workflow(d, "ChangeClass"));
}

}  // namespace polarstack::cluster
