#include "cluster/planner.h"

#include <algorithm>

#include "cluster/workflows.h"

namespace polarstack::cluster {

using core::Json;

namespace {
struct Derived {
  std::string name, type, phase, target;
  int64_t generation = 0;
  int readers = -1;
  Json parameters = Json::object();  // Create, UpdateParameters: the spec.parameters it applies
  std::string version;               // ... the spec.version it installs
  Json resources = Json::object();   // ... the spec.resources it gives each instance
  bool legacy = false;               // a Create of a release before these snapshots
};

bool rollout_type(const std::string& t) {
  return t == "UpdateParameters" || t == "UpgradeMinorVersion" || t == "ChangeClass";
}

bool finished(const std::string& phase) { return phase == "Succeeded" || phase == "Cancelled"; }
// Still to run or running (Failed is an end too, if not a happy one).
bool active(const std::string& phase) { return phase.empty() || phase == "Pending" || phase == "Running" || phase == "Waiting"; }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Json parameters_of(const Json& obj) {
  const Json* p = core::find_path(obj, "spec.parameters");
  return p && p->is_object() ? *p : Json::object();
}

// spec.version ("15" when absent: the default, and what a Create of an earlier release installed).
// spec.resources without its unset members.
Json resources_of(const Json& obj) {
  Json out = Json::object();
  if (const Json* r = core::find_path(obj, "spec.resources"); r && r->is_object()) {
    for (const auto& [k, v] : r->items()) {
      if (!(v.is_null() || (v.is_string() && v.get<std::string>().empty()))) out[k] = v;
    }
  }
  return out;
}

std::string version_of(const Json& obj) {
  std::string v = core::string_at(obj, "spec.version");
  return v.empty() ? "15" : v;
}

Json new_operation(const Json& cluster, const std::string& type, int64_t generation, std::optional<int> readers,
                   const std::string& target = "") {
  std::string name = core::string_at(cluster, "metadata.name");
  Json op = {{"apiVersion", "polarstack.io/v1"},
             {"kind", "PolarDBOperation"},
             {"metadata",
              {{"name", name + "-" + lower(type) + "-g" + std::to_string(generation)},
               {"namespace", core::string_at(cluster, "metadata.namespace")},
               {"labels", {{kDerivedLabel, "true"}, {"polarstack.io/cluster", name},
                           {kClusterUidLabel, core::string_at(cluster, "metadata.uid")}}},
               {"annotations", {{kGenerationAnnotation, std::to_string(generation)}}}}},
             {"spec", {{"clusterRef", name}, {"type", type}}}};
  if (readers) op["spec"]["readers"] = *readers;
  if (!target.empty()) op["spec"]["target"] = target;
  // Create and the rollouts carry the instances' whole configuration, a snapshot.
  if (type == "Create" || rollout_type(type)) {
    op["spec"]["parameters"] = parameters_of(cluster);
    op["spec"]["version"] = version_of(cluster);
    if (!resources_of(cluster).empty()) op["spec"]["resources"] = resources_of(cluster);
  }
  return op;
}
}  // namespace

Plan plan(const Json& cluster, const std::vector<Json>& operations) {
  Plan p;
  const Json* gen_j = core::find_path(cluster, "metadata.generation");
  int64_t generation = gen_j && gen_j->is_number_integer() ? gen_j->get<int64_t>() : 1;
  const Json* r = core::find_path(cluster, "spec.readers");
  int readers = r && r->is_number_integer() ? r->get<int>() : 0;
  bool deleting = !core::string_at(cluster, "metadata.deletionTimestamp").empty();
  bool has_finalizer = false;
  if (const Json* f = core::find_path(cluster, "metadata.finalizers"); f && f->is_array()) {
    has_finalizer = std::find(f->begin(), f->end(), Json(kFinalizer)) != f->end();
  }

  std::vector<Derived> derived;
  for (const auto& o : operations) {
    const Json* labels = core::find_path(o, "metadata.labels");  // label keys contain dots: no dotted path
    if (!labels || !labels->is_object() || labels->value(kDerivedLabel, "") != "true") continue;
    // Left over from an earlier cluster of the same name: not this one's history.
    if (labels->value(kClusterUidLabel, "") != core::string_at(cluster, "metadata.uid")) continue;
    Derived d;
    d.name = core::string_at(o, "metadata.name");
    d.type = core::string_at(o, "spec.type");
    d.phase = core::string_at(o, "status.phase");
    const Json* ann = core::find_path(o, "metadata.annotations");
    if (ann && ann->contains(kGenerationAnnotation)) {
      try {
        d.generation = std::stoll((*ann)[kGenerationAnnotation].get<std::string>());
      } catch (const std::exception&) {
      }
    }
    if (const Json* rr = core::find_path(o, "spec.readers"); rr && rr->is_number_integer()) d.readers = rr->get<int>();
    d.target = core::string_at(o, "spec.target");
    d.parameters = parameters_of(o);
    d.version = version_of(o);
    d.resources = resources_of(o);
    d.legacy = d.type == "Create" && core::string_at(o, "spec.version").empty();
    derived.push_back(d);
  }
  std::sort(derived.begin(), derived.end(), [](const Derived& a, const Derived& b) { return a.generation < b.generation; });

  if (deleting) {
    bool have_delete = std::any_of(derived.begin(), derived.end(), [](const Derived& d) { return d.type == "Delete"; });
    if (!have_delete && has_finalizer) p.create = new_operation(cluster, "Delete", generation, std::nullopt);
    for (const auto& d : derived) {
      if (d.type != "Delete" && !finished(d.phase)) p.supersede.push_back(d.name);
    }
    return p;
  }

  p.add_finalizer = !has_finalizer;

  // The readers the latest derived Create/ScaleReaders aims at.
  const Derived* latest = nullptr;
  for (const auto& d : derived) {
    if (d.type == "Create" || d.type == "ScaleReaders") latest = &d;
  }
  if (!latest) {
    p.create = new_operation(cluster, "Create", generation, readers);
    return p;
  }
  if (latest->generation < generation && latest->readers != readers) {
    p.create = new_operation(cluster, "ScaleReaders", generation, readers);
    for (const auto& d : derived) {
      if (d.type == "ScaleReaders" && !finished(d.phase)) p.supersede.push_back(d.name);
    }
    return p;
  }
  // spec.primary: a Switchover whenever it names another instance than the last derived
  // Switchover aimed at (none yet: ""), once nothing else derived runs. It is compared
  // with what was asked, not with the current primary: a failover does not make the
  // operator move the primary back, and changing other fields re-plans nothing.
  std::string want = core::string_at(cluster, "spec.primary");
  const Derived* switchover = nullptr;
  bool busy = false;
  for (const auto& d : derived) {
    if (d.type == "Switchover") switchover = &d;
    busy = busy || active(d.phase);
  }
  std::string asked = switchover ? switchover->target : "";
  if (!want.empty() && want != asked) {
    if (!busy && latest->phase == "Succeeded") p.create = new_operation(cluster, "Switchover", generation, std::nullopt, want);
    return p;
  }
  if (!want.empty() && switchover && switchover->phase != "Succeeded") return p;  // not (yet) what the spec says
  // spec.parameters, spec.version, spec.resources: whenever they differ from what the
  // latest derived Create or rollout applied, once nothing else derived runs, a rollout
  // named after the most far-reaching change (UpgradeMinorVersion, ChangeClass,
  // UpdateParameters) that applies all of them. A Create of an earlier release carried
  // none: its parameters count as empty (a no-op rollout, if any), its resources as the
  // cluster's (they did nothing then and are not acted on until changed).
  const Derived* config = nullptr;
  for (const auto& d : derived) {
    if (d.type == "Create" || rollout_type(d.type)) config = &d;
  }
  if (config) {
    bool params = config->parameters != parameters_of(cluster);
    bool version = config->version != version_of(cluster);
    bool resources = !config->legacy && config->resources != resources_of(cluster);
    if (params || version || resources) {
      if (!busy && latest->phase == "Succeeded") {
        std::string type = version ? "UpgradeMinorVersion" : resources ? "ChangeClass" : "UpdateParameters";
        p.create = new_operation(cluster, type, generation, std::nullopt);
        // One rolled back (Interrupted) waits for a human no more: the newer spec replaces it.
        for (const auto& d : derived) {
          if (rollout_type(d.type) && !finished(d.phase) && d.phase != "Failed") p.supersede.push_back(d.name);
        }
      }
      return p;
    }
    if (config->type != "Create" && config->phase != "Succeeded") return p;  // not (yet) applied
  }
  // Nothing new to do: the spec is observed once the latest run has succeeded.
  if (latest->phase == "Succeeded") {
    const Json* og = core::find_path(cluster, "status.observedGeneration");
    int64_t observed = og && og->is_number_integer() ? og->get<int64_t>() : 0;
    if (observed < generation) p.observed_generation = generation;
  }
  return p;
}

}  // namespace polarstack::cluster
