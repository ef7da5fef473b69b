// polarctl's commands. Each takes parsed arguments and a client, prints for a person,
// and returns the process exit code (0 ok, 1 failed).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "kube/client.h"

namespace polarstack::polarctl {

struct Options {
  std::string kubeconfig;
  std::string context;
  std::string ns;          // empty: the kubeconfig's namespace
  bool all_namespaces = false;
  std::string output;      // "", wide, yaml, json, name
  bool watch = false;
  std::vector<std::string> files;
  std::vector<std::string> args;  // positional arguments after the command
  int readers = -1;        // scale --readers
  bool wait = false;       // delete --wait
  bool read_only = false;  // connect/psql --ro
  bool delete_clusters = false;  // down --delete
  std::string to;          // switchover --to
  bool in_place = false;   // restart --in-place
  std::string wait_for;    // wait --for
  bool all = false;        // wait --all: every object of the type (in the namespace, or -A)
  std::string timeout;     // wait --timeout (a duration; default 30s as kubectl's)
};

// The namespace to use: -n, else the kubeconfig's.
std::string namespace_of(kube::Client& c, const Options& o);

// Maps a name a person types (polardbcluster, pdb, clusters, cm, ev, ...) to a resource.
const kube::ResourceRef* resolve_type(const std::string& name);
// Maps apiVersion + kind of a document to a resource.
const kube::ResourceRef* resolve_kind(const std::string& api_version, const std::string& kind);

int cmd_switchover(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_restart(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_engines(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_apply(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_get(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_describe(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_delete(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_scale(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_ops(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_resume(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_connect(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_psql(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_down(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_wait(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);
int cmd_cancel(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err);

// "error: [<context>: ]<message>" and each field cause on its own line.
void print_error(std::ostream& err, const core::Error& e, const std::string& context = "");
// "polardbcluster.polarstack.io/demo", "configmap/settings"
std::string display(const kube::ResourceRef& r, const std::string& name);

}  // namespace polarstack::polarctl
