// polarctl: the polarstack CLI. Talks to the API server named by the kubeconfig
// (--kubeconfig, $KUBECONFIG, else $POLARSTACK_HOME/kubeconfig written by the server).
#include <csignal>
#include <cstring>
#include <iostream>

#include "cmd/polarctl/commands.h"
#include "kube/config.h"

namespace ps = polarstack;

namespace {

const char* kUsage = R"(polarctl controls polarstack clusters.

usage: polarctl <command> [args] [flags]

commands:
  apply -f FILE               create or update the objects in FILE (YAML or JSON; - for stdin)
  get TYPE [NAME...]          list objects (-o wide|yaml|json|name, -w to watch, -A all namespaces)
  describe TYPE NAME          show an object with its conditions and events
  delete TYPE NAME... | -f FILE
                              delete objects (--wait: until finalizers are done)
  scale CLUSTER --readers N   set the number of readers of a PolarDBCluster
  switchover CLUSTER [--to INSTANCE] [--wait]
                              move the primary to INSTANCE (default: the reader that has
                              replayed the most) with no acknowledged write lost; --wait:
                              follow it to the end
  restart CLUSTER [INSTANCE [--in-place]] [--wait]
                              restart every instance (readers one at a time, then the
                              primary by one switchover), or one instance: a reader in
                              place, the primary by switchover (--in-place: writes pause
                              for the whole restart)
  wait TYPE/NAME... | TYPE --all  --for=condition=Ready [--timeout=5m]
                              wait until a condition holds (kubectl's flags: --for=delete,
                              --for=jsonpath={.status.phase}=Running); shows progress
  engines                     the PostgreSQL builds the server can run (spec.version)
  ops [CLUSTER]               list operations (PolarDBOperations) with their progress; -w to follow
  describe op NAME            an operation's steps with attempts, durations and errors
  resume OPERATION            resume an Interrupted or Failed operation
  cancel OPERATION            cancel an operation (compensation steps run if it has them)
  connect CLUSTER [--ro]      print a connection URI for the read-write (or read-only) endpoint
  psql CLUSTER [--ro] [-- ARGS]
                              open psql on the cluster's read-write (or read-only) endpoint
  down [--delete]             stop local mode: the server, every database and proxy (data is
                              kept; ./scripts/up.sh brings it all back). --delete first deletes
                              every cluster and its data

types: polardbcluster (pdb), polardboperation (pdbop), namespace, secret, configmap (cm),
       event (ev), pod, service (svc), lease

flags:
  -n, --namespace NS          namespace (default: the kubeconfig's, usually "default")
  --kubeconfig PATH           kubeconfig to use (default $KUBECONFIG or ~/.polarstack/kubeconfig)
  --context NAME              kubeconfig context
  -h, --help                  this help
)";

int usage_error(const std::string& msg) {
  std::cerr << "error: " << msg << "\nRun 'polarctl --help' for usage.\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  ps::polarctl::Options o;
  std::string command;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string inline_value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      inline_value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_inline = true;
    } else if (a.size() > 2 && a[0] == '-' && a[1] != '-' && (a[1] == 'o' || a[1] == 'n' || a[1] == 'f')) {
      inline_value = a.substr(2);  // -oyaml, -nprod
      if (!inline_value.empty() && inline_value[0] == '=') inline_value = inline_value.substr(1);
      a = a.substr(0, 2);
      has_inline = true;
    }
    auto value = [&](std::string& out) -> bool {
      if (has_inline) {
        out = inline_value;
        return true;
      }
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if (a == "-h" || a == "--help" || a == "help") {
      std::cout << kUsage;
      return 0;
    } else if (a == "-n" || a == "--namespace") {
      if (!value(o.ns)) return usage_error(a + " needs a value");
    } else if (a == "-o" || a == "--output") {
      if (!value(o.output)) return usage_error(a + " needs a value");
    } else if (a == "-f" || a == "--filename") {
      std::string f;
      if (!value(f)) return usage_error(a + " needs a file name (or - for standard input)");
      o.files.push_back(f);
    } else if (a == "--kubeconfig") {
      if (!value(o.kubeconfig)) return usage_error(a + " needs a path");
    } else if (a == "--context") {
      if (!value(o.context)) return usage_error(a + " needs a value");
    } else if (a == "--readers") {
      std::string v;
      if (!value(v)) return usage_error("--readers needs a number");
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0 || n > 1000) return usage_error("--readers: must be a non-negative number, got \"" + v + "\"");
      o.readers = static_cast<int>(n);
    } else if (a == "-w" || a == "--watch") {
      o.watch = true;
    } else if (a == "-A" || a == "--all-namespaces") {
      o.all_namespaces = true;
    } else if (a == "--wait") {
      o.wait = true;
    } else if (a == "--all" && command == "wait") {
      o.all = true;
    } else if (a == "--for") {
      if (!value(o.wait_for)) return usage_error("--for needs a value, e.g. --for=condition=Ready");
    } else if (a == "--timeout") {
      if (!value(o.timeout)) return usage_error("--timeout needs a duration, e.g. --timeout=5m");
    } else if (a == "--to") {
      if (!value(o.to)) return usage_error("--to needs an instance name");
    } else if (a == "--in-place" && command == "restart") {
      o.in_place = true;
    } else if (a == "--ro") {
      o.read_only = true;
    } else if (a == "--delete") {
      o.delete_clusters = true;
    } else if (a == "--" && !command.empty()) {
      o.args.insert(o.args.end(), args.begin() + static_cast<long>(i) + 1, args.end());  // passed on (psql)
      break;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      return usage_error("unknown flag " + a);
    } else if (command.empty()) {
      command = a;
    } else {
      o.args.push_back(a);
    }
  }
  if (command.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  using Fn = int (*)(ps::kube::Client&, const ps::polarctl::Options&, std::ostream&, std::ostream&);
  Fn fn = nullptr;
  if (command == "apply") fn = ps::polarctl::cmd_apply;
  else if (command == "get") fn = ps::polarctl::cmd_get;
  else if (command == "describe") fn = ps::polarctl::cmd_describe;
  else if (command == "delete") fn = ps::polarctl::cmd_delete;
  else if (command == "scale") fn = ps::polarctl::cmd_scale;
  else if (command == "switchover") fn = ps::polarctl::cmd_switchover;
  else if (command == "restart") fn = ps::polarctl::cmd_restart;
  else if (command == "engines") fn = ps::polarctl::cmd_engines;
  else if (command == "wait") fn = ps::polarctl::cmd_wait;
  else if (command == "ops") fn = ps::polarctl::cmd_ops;
  else if (command == "resume") fn = ps::polarctl::cmd_resume;
  else if (command == "cancel") fn = ps::polarctl::cmd_cancel;
  else if (command == "connect") fn = ps::polarctl::cmd_connect;
  else if (command == "psql") fn = ps::polarctl::cmd_psql;
  else if (command == "down") fn = ps::polarctl::cmd_down;
  else return usage_error("unknown command \"" + command + "\"");

  auto cfg = ps::kube::default_config(o.kubeconfig, o.context);
  if (!cfg && command == "down" && !o.delete_clusters) cfg = ps::kube::ClientConfig{};  // needs no API
  if (!cfg) {
    ps::polarctl::print_error(std::cerr, cfg.error());
    return 1;
  }
  ps::kube::Client client(*cfg);
  return fn(client, o, std::cout, std::cerr);
}
