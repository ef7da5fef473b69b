#include "cmd/polarctl/commands.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "api/kinds.h"
#include "cmd/polarctl/output.h"
#include "core/files.h"
#include "core/yaml.h"
#include "kube/informer.h"

namespace polarstack::polarctl {

using core::Code;
using core::Json;

namespace {

struct CoreType {
  std::vector<std::string> names;
  kube::ResourceRef ref;
};

const std::vector<CoreType>& core_types() {
  static const std::vector<CoreType> types = {
      {{"namespace", "namespaces", "ns"}, {"", "v1", "namespaces", "Namespace", false}},
      {{"secret", "secrets"}, {"", "v1", "secrets", "Secret", true}},
      {{"configmap", "configmaps", "cm"}, {"", "v1", "configmaps", "ConfigMap", true}},
      {{"event", "events", "ev"}, {"", "v1", "events", "Event", true}},
      {{"pod", "pods", "po"}, {"", "v1", "pods", "Pod", true}},
      {{"service", "services", "svc"}, {"", "v1", "services", "Service", true}},
      {{"lease", "leases"}, {"coordination.k8s.io", "v1", "leases", "Lease", true}},
  };
  return types;
}

std::vector<kube::ResourceRef>& our_refs() {
  static std::vector<kube::ResourceRef> refs = [] {
    std::vector<kube::ResourceRef> r;
    for (const auto& k : api::polarstack_kinds()) r.push_back({k.group, k.version, k.plural, k.kind, k.namespaced});
    return r;
  }();
  return refs;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}


std::string known_types() {
  std::string s;
  for (const auto& k : api::polarstack_kinds()) s += (s.empty() ? "" : ", ") + k.singular + " (" + k.short_names[0] + ")";
  for (const auto& t : core_types()) s += ", " + t.names[0];
  return s;
}

core::Result<std::string> read_input(const std::string& file) {
  if (file == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  auto text = core::read_file(file);
  if (!text) return core::fail(Code::kNotFound, "cannot read " + file + ": no such file or not readable");
  return text;
}

constexpr const char* kTableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

}  // namespace

std::string display(const kube::ResourceRef& r, const std::string& name) {
  return lower(r.kind) + (r.group.empty() ? "" : "." + r.group) + "/" + name;
}

void print_error(std::ostream& err, const core::Error& e, const std::string& context) {
  err << "error: " << (context.empty() ? "" : context + ": ") << e.message << "\n";
  for (const auto& c : e.causes) err << "  - " << c.str() << "\n";
}

const kube::ResourceRef* resolve_type(const std::string& name) {
  if (const api::KindInfo* k = api::find_kind(name)) {
    for (const auto& r : our_refs()) if (r.kind == k->kind) return &r;
  }
  std::string n = lower(name);
  for (const auto& t : core_types()) {
    if (std::find(t.names.begin(), t.names.end(), n) != t.names.end()) return &t.ref;
  }
  return nullptr;
}

const kube::ResourceRef* resolve_kind(const std::string& api_version, const std::string& kind) {
  for (const auto& r : our_refs()) if (r.kind == kind && r.group_version() == api_version) return &r;
  for (const auto& t : core_types()) if (t.ref.kind == kind && t.ref.group_version() == api_version) return &t.ref;
  return nullptr;
}

// ---------------------------------------------------------------------------------------
int cmd_apply(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.files.empty()) {
    err << "error: polarctl apply needs -f FILE (or -f - for standard input)\n";
    return 2;
  }
  int failures = 0;
  for (const auto& file : o.files) {
    auto text = read_input(file);
    if (!text) {
      print_error(err, text.error());
      failures++;
      continue;
    }
    auto docs = core::parse_yaml_documents(*text);
    if (!docs) {
      err << "error: " << file << ": " << docs.error().message << "\n";
      failures++;
      continue;
    }
    if (docs->empty()) {
      err << "error: " << file << ": no objects to apply\n";
      failures++;
    }
    for (size_t i = 0; i < docs->size(); ++i) {
      Json doc = (*docs)[i];
      std::string where = file + " (document " + std::to_string(i + 1) + ")";
      if (!doc.is_object()) {
        err << "error: " << where << ": expected a mapping with apiVersion, kind and metadata\n";
        failures++;
        continue;
      }
      std::string av = doc.value("apiVersion", Json("")).is_string() ? doc.value("apiVersion", "") : "";
      std::string kind = doc.value("kind", Json("")).is_string() ? doc.value("kind", "") : "";
      if (av.empty() || kind.empty()) {
        err << "error: " << where << ": " << (av.empty() ? "apiVersion" : "kind") << " is required\n";
        failures++;
        continue;
      }
      const kube::ResourceRef* ref = resolve_kind(av, kind);
      if (!ref) {
        err << "error: " << where << ": unknown kind \"" << kind << "\" in apiVersion \"" << av
            << "\"; polarctl knows PolarDBCluster and PolarDBOperation (polarstack.io/v1) and the core kinds "
               "Namespace, Secret, ConfigMap, Event, Pod, Service (v1) and Lease (coordination.k8s.io/v1)\n";
        failures++;
        continue;
      }
      std::string name = core::string_at(doc, "metadata.name");
      if (name.empty()) {
        err << "error: " << where << ": metadata.name is required\n";
        failures++;
        continue;
      }
      std::string ns = ref->namespaced ? core::string_at(doc, "metadata.namespace") : "";
      if (ref->namespaced && ns.empty()) ns = namespace_of(c, o);
      bool done = false;
      for (int attempt = 0; attempt < 5 && !done; ++attempt) {
        auto current = c.get(*ref, ns, name);
        core::Result<Json> result;
        const char* verb;
        std::string before_rv;
        if (!current && current.error().code == Code::kNotFound) {
          result = c.create(*ref, ns, doc);
          verb = "created";
        } else if (!current) {
          result = std::unexpected(current.error());
          verb = "";
        } else {
          // The document is the desired state: its spec (or data, for core kinds) replaces the
          // stored one; its labels and annotations are added; status stays the server's.
          Json desired = *current;
          before_rv = core::string_at(*current, "metadata.resourceVersion");
          for (auto it = doc.begin(); it != doc.end(); ++it) {
            if (it.key() != "metadata" && it.key() != "status") desired[it.key()] = it.value();
          }
          for (const char* m : {"labels", "annotations"}) {
            if (const Json* v = core::find_path(doc, std::string("metadata.") + m); v && v->is_object()) {
              for (auto it = v->begin(); it != v->end(); ++it) desired["metadata"][m][it.key()] = it.value();
            }
          }
          result = c.update(*ref, ns, desired);
          verb = "configured";
        }
        if (!result && result.error().code == Code::kConflict && attempt + 1 < 5) continue;  // changed meanwhile
        done = true;
        if (!result) {
          print_error(err, result.error(), where);
          failures++;
        } else {
          if (!before_rv.empty() && core::string_at(*result, "metadata.resourceVersion") == before_rv) verb = "unchanged";
          out << display(*ref, name) << " " << verb << "\n";
        }
      }
    }
  }
  return failures ? 1 : 0;
}

// ---------------------------------------------------------------------------------------
int cmd_get(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.args.empty()) {
    err << "error: you must specify the type of resource to get, e.g. polarctl get polardbclusters\n"
        << "known types: " << known_types() << "\n";
    return 2;
  }
  const kube::ResourceRef* ref = resolve_type(o.args[0]);
  if (!ref) {
    err << "error: the server doesn't have a resource type \"" << o.args[0] << "\"\nknown types: " << known_types() << "\n";
    return 1;
  }
  std::string ns = o.all_namespaces ? "" : namespace_of(c, o);
  std::vector<std::string> names(o.args.begin() + 1, o.args.end());
  bool table = o.output.empty() || o.output == "wide";
  bool wide = o.output == "wide";
  bool ns_column = o.all_namespaces && ref->namespaced;
  if (!table && o.output != "yaml" && o.output != "json" && o.output != "name") {
    err << "error: -o: unknown output format \"" << o.output << "\" (use wide, yaml, json or name)\n";
    return 2;
  }
  int failures = 0;
  std::string list_rv;
  if (names.empty()) {
    auto r = table ? c.request("GET", ref->path(ns), "", "application/json", kTableAccept) : c.list(*ref, ns);
    if (!r) {
      print_error(err, r.error());
      return 1;
    }
    list_rv = core::string_at(*r, "metadata.resourceVersion");
    size_t count = table ? r->value("rows", Json::array()).size() : r->value("items", Json::array()).size();
    if (count == 0 && !o.watch) {
      err << "No resources found" << (ref->namespaced && !ns.empty() ? " in " + ns + " namespace" : "") << ".\n";
    } else if (table) {
      print_table(out, *r, wide, true, ns_column);
    } else if (o.output == "name") {
      for (const auto& i : (*r)["items"]) out << display(*ref, core::string_at(i, "metadata.name")) << "\n";
    } else {
      Json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", Json::array()}};
      for (const auto& i : (*r)["items"]) list["items"].push_back(for_display(i));
      out << (o.output == "json" ? list.dump(2) + "\n" : core::to_yaml(list));
    }
  } else {
    bool header = true;
    Json items = Json::array();
    for (const auto& n : names) {
      auto r = table ? c.request("GET", ref->path(ns, n), "", "application/json", kTableAccept) : c.get(*ref, ns, n);
      if (!r) {
        print_error(err, r.error());
        failures++;
        continue;
      }
      if (table) {
        print_table(out, *r, wide, header, ns_column);
        header = false;
      } else if (o.output == "name") {
        out << display(*ref, n) << "\n";
      } else {
        items.push_back(for_display(*r));
      }
    }
    if (!table && o.output != "name") {
      for (size_t i = 0; i < items.size(); ++i) {
        if (o.output == "json") out << items[i].dump(2) << "\n";
        else out << (i ? "---\n" : "") << core::to_yaml(items[i]);
      }
    }
  }
  if (!o.watch || failures) return failures ? 1 : 0;

  // -w: every change from here on, until interrupted.
  out.flush();
  std::atomic<bool> stop{false};
  kube::ListOptions lo;
  lo.as_table = table;
  if (names.size() == 1) lo.field_selector = "metadata.name=" + names[0];
  std::string rv = list_rv;
  if (rv.empty()) {
    auto l = c.list(*ref, ns, lo);
    if (l) rv = core::string_at(*l, "metadata.resourceVersion");
  }
  while (true) {
    auto st = c.watch(*ref, ns, lo, rv, [&](const kube::WatchEvent& ev) {
      std::string erv = core::string_at(ev.object, "metadata.resourceVersion");
      if (!erv.empty()) rv = erv;
      if (ev.type == "BOOKMARK") return true;
      if (table) print_table(out, ev.object, wide, false, ns_column);
      else if (o.output == "json") out << for_display(ev.object).dump(2) << "\n";
      else if (o.output == "name") out << display(*ref, core::string_at(ev.object, "metadata.name")) << "\n";
      else out << "---\n" << core::to_yaml(for_display(ev.object));
      out.flush();
      return true;
    }, &stop);
    if (!st) {
      if (st.error().code == Code::kGone) {  // history gone: continue from now
        auto l = c.list(*ref, ns, lo);
        if (l) rv = core::string_at(*l, "metadata.resourceVersion");
        continue;
      }
      print_error(err, st.error());
      return 1;
    }
  }
}

// ---------------------------------------------------------------------------------------
int cmd_describe(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() < 2) {
    err << "error: usage: polarctl describe <type> <name>, e.g. polarctl describe polardbcluster demo\n";
    return 2;
  }
  const kube::ResourceRef* ref = resolve_type(o.args[0]);
  if (!ref) {
    err << "error: the server doesn't have a resource type \"" << o.args[0] << "\"\nknown types: " << known_types() << "\n";
    return 1;
  }
  std::string ns = namespace_of(c, o);
  int failures = 0;
  for (size_t i = 1; i < o.args.size(); ++i) {
    auto obj = c.get(*ref, ns, o.args[i]);
    if (!obj) {
      print_error(err, obj.error());
      failures++;
      continue;
    }
    kube::ListOptions lo;
    lo.field_selector = "involvedObject.name=" + o.args[i] + ",involvedObject.kind=" + ref->kind;
    auto events = c.list(kube::events_ref(), ref->namespaced ? ns : "default", lo);
    Json ev = events ? (*events)["items"] : Json::array();
    std::sort(ev.begin(), ev.end(), [](const Json& a, const Json& b) {
      return a.value("lastTimestamp", std::string()) < b.value("lastTimestamp", std::string());
    });
    if (i > 1) out << "\n";
    print_description(out, *obj, ev);
  }
  return failures ? 1 : 0;
}

// ---------------------------------------------------------------------------------------
int cmd_delete(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  std::vector<std::pair<const kube::ResourceRef*, std::string>> targets;
  std::string ns = namespace_of(c, o);
  for (const auto& file : o.files) {  // delete -f FILE
    auto text = read_input(file);
    auto docs = text ? core::parse_yaml_documents(*text) : core::Result<std::vector<Json>>(std::unexpected(text.error()));
    if (!docs) {
      err << "error: " << file << ": " << docs.error().message << "\n";
      return 1;
    }
    for (const auto& d : *docs) {
      const kube::ResourceRef* ref = resolve_kind(d.value("apiVersion", ""), d.value("kind", ""));
      if (!ref) {
        err << "error: " << file << ": unknown kind \"" << d.value("kind", "") << "\"\n";
        return 1;
      }
      targets.push_back({ref, core::string_at(d, "metadata.name")});
    }
  }
  if (!o.args.empty()) {
    const kube::ResourceRef* ref = resolve_type(o.args[0]);
    if (!ref) {
      err << "error: the server doesn't have a resource type \"" << o.args[0] << "\"\n";
      return 1;
    }
    for (size_t i = 1; i < o.args.size(); ++i) targets.push_back({ref, o.args[i]});
    if (o.args.size() < 2) {
      err << "error: usage: polarctl delete <type> <name>... (or -f FILE)\n";
      return 2;
    }
  }
  if (targets.empty()) {
    err << "error: usage: polarctl delete <type> <name>... (or -f FILE)\n";
    return 2;
  }
  int failures = 0;
  for (const auto& [ref, name] : targets) {
    auto r = c.remove(*ref, ns, name);
    if (!r) {
      print_error(err, r.error());
      failures++;
      continue;
    }
    const Json* fin = core::find_path(*r, "metadata.finalizers");
    if (r->contains("metadata") && (*r)["metadata"].contains("deletionTimestamp") && fin && !fin->empty()) {
      out << display(*ref, name) << " marked for deletion; waiting for finalizers " << fin->dump() << "\n";
      if (o.wait) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
        while (std::chrono::steady_clock::now() < deadline) {
          auto g = c.get(*ref, ns, name);
          if (!g && g.error().code == Code::kNotFound) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling interval
        }
        out << display(*ref, name) << " deleted\n";
      }
    } else {
      out << display(*ref, name) << " deleted\n";
    }
  }
  return failures ? 1 : 0;
}

// ---------------------------------------------------------------------------------------
int cmd_scale(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() != 1 || o.readers < 0) {
    err << "error: usage: polarctl scale <cluster> --readers N\n";
    return 2;
  }
  std::string ns = namespace_of(c, o);
  const auto& ref = kube::clusters_ref();
  auto cur = c.get(ref, ns, o.args[0]);
  if (!cur) {
    print_error(err, cur.error());
    return 1;
  }
  int before = core::find_path(*cur, "spec.readers") ? (*cur)["spec"]["readers"].get<int>() : 0;
  auto r = c.patch(ref, ns, o.args[0], {{"spec", {{"readers", o.readers}}}});
  if (!r) {
    print_error(err, r.error());
    return 1;
  }
  out << display(ref, o.args[0]) << " scaled (readers: " << before << " -> " << o.readers << ")\n";
  return 0;
}

}  // namespace polarstack::polarctl

namespace polarstack::polarctl {

// ---------------------------------------------------------------------------------------
int cmd_ops(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() > 1) {
    err << "error: usage: polarctl ops [CLUSTER] [-w]\n";
    return 2;
  }
  std::string ns = o.all_namespaces ? "" : namespace_of(c, o);
  kube::ListOptions lo;
  if (!o.args.empty()) lo.field_selector = "spec.clusterRef=" + o.args[0];
  auto l = c.list(kube::operations_ref(), ns, lo);
  if (!l) {
    print_error(err, l.error());
    return 1;
  }
  std::vector<Json> items((*l)["items"].begin(), (*l)["items"].end());
  std::sort(items.begin(), items.end(), [](const Json& a, const Json& b) {
    auto ka = core::string_at(a, "metadata.creationTimestamp") + core::string_at(a, "metadata.name");
    auto kb = core::string_at(b, "metadata.creationTimestamp") + core::string_at(b, "metadata.name");
    return ka < kb;
  });
  if (items.empty() && !o.watch) {
    err << "No operations found" << (o.args.empty() ? "" : " for cluster " + o.args[0]) << ".\n";
    return 0;
  }
  print_operations(out, items, true);
  if (!o.watch) return 0;
  out.flush();
  std::string rv = core::string_at(*l, "metadata.resourceVersion");
  while (true) {  // -w: a line per change, until interrupted
    auto st = c.watch(kube::operations_ref(), ns, lo, rv, [&](const kube::WatchEvent& ev) {
      std::string erv = core::string_at(ev.object, "metadata.resourceVersion");
      if (!erv.empty()) rv = erv;
      if (ev.type == "BOOKMARK") return true;
      print_operations(out, {ev.object}, false);
      out.flush();
      return true;
    });
    if (!st) {
      if (st.error().code == Code::kGone) {
        auto again = c.list(kube::operations_ref(), ns, lo);
        if (again) rv = core::string_at(*again, "metadata.resourceVersion");
        continue;
      }
      print_error(err, st.error());
      return 1;
    }
  }
}

namespace {
int request_flag(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err, const char* verb,
                 const char* field) {
  if (o.args.size() != 1) {
    err << "error: usage: polarctl " << verb << " OPERATION\n";
    return 2;
  }
  auto r = c.patch(kube::operations_ref(), namespace_of(c, o), o.args[0], {{"spec", {{field, true}}}});
  if (!r) {
    print_error(err, r.error());
    return 1;
  }
  out << display(kube::operations_ref(), o.args[0]) << " " << verb << " requested (polarctl ops -w to follow it)\n";
  return 0;
}
}  // namespace

int cmd_resume(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  return request_flag(c, o, out, err, "resume", "resume");
}

int cmd_cancel(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  return request_flag(c, o, out, err, "cancel", "cancel");
}

std::string namespace_of(kube::Client& c, const Options& o) { return o.ns.empty() ? c.config().ns : o.ns; }

}  // namespace polarstack::polarctl
