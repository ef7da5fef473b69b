// polarctl connect / psql / down: getting into a cluster, and stopping local mode.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "cmd/polarctl/commands.h"
#include "core/base64.h"
#include "core/files.h"

namespace polarstack::polarctl {

namespace {
struct Target {
  std::string host, port, user, password;
};

core::Result<Target> target_of(kube::Client& c, const Options& o, const std::string& ns) {
  auto cl = c.get(kube::clusters_ref(), ns, o.args[0]);
  if (!cl) return std::unexpected(cl.error());
  std::string ep = core::string_at(*cl, o.read_only ? "status.endpoints.readOnly" : "status.endpoints.readWrite");
  if (ep.empty() || ep.find(':') == std::string::npos) {
    std::string phase = core::string_at(*cl, "status.phase");
    return core::fail(core::Code::kUnavailable, "PolarDBCluster \"" + o.args[0] + "\" has no " +
                                                    (o.read_only ? "read-only" : "read-write") + " endpoint yet (phase " +
                                                    (phase.empty() ? "Pending" : phase) + "); see: polarctl describe pdb " +
                                                    o.args[0]);
  }
  auto secret = c.get(kube::secrets_ref(), ns, o.args[0] + "-superuser");
  if (!secret) return core::fail(core::Code::kNotFound, "the login Secret " + o.args[0] + "-superuser: " + secret.error().message);
  Target t;
  t.host = ep.substr(0, ep.rfind(':'));
  t.port = ep.substr(ep.rfind(':') + 1);
  auto user = core::base64_decode(core::string_at(*secret, "data.username"));
  auto pw = core::base64_decode(core::string_at(*secret, "data.password"));
  if (!user || !pw) return core::fail(core::Code::kInvalid, "the Secret " + o.args[0] + "-superuser is malformed");
  t.user = *user;
  t.password = core::trim_right(*pw);
  return t;
}
}  // namespace

int cmd_connect(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.args.size() != 1) {
    err << "error: usage: polarctl connect <cluster> [--ro]\n";
    return 2;
  }
  auto t = target_of(c, o, namespace_of(c, o));
  if (!t) {
    print_error(err, t.error());
    return 1;
  }
  out << "postgresql://" << t->user << ":" << t->password << "@" << t->host << ":" << t->port << "/postgres\n";
  return 0;
}

int cmd_psql(kube::Client& c, const Options& o, std::ostream&, std::ostream& err) {
  if (o.args.empty()) {
    err << "error: usage: polarctl psql <cluster> [--ro] [-- psql arguments]\n";
    return 2;
  }
  auto t = target_of(c, o, namespace_of(c, o));
  if (!t) {
    print_error(err, t.error());
    return 1;
  }
  std::string psql = core::file_exists("/usr/lib/postgresql/15/bin/psql") ? "/usr/lib/postgresql/15/bin/psql" : "psql";
  std::vector<std::string> argv = {psql, "-h", t->host, "-p", t->port, "-U", t->user, "-d", "postgres"};
  argv.insert(argv.end(), o.args.begin() + 1, o.args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  ::setenv("PGPASSWORD", t->password.c_str(), 1);  // the environment, never the command line
  ::execvp(cargv[0], cargv.data());
  err << "error: cannot run " << psql << ": " << std::strerror(errno) << "\n";
  return 1;
}

int cmd_down(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.delete_clusters) {
    auto l = c.list(kube::clusters_ref(), "");
    if (!l) {
      print_error(err, l.error());
      return 1;
    }
    for (const auto& cl : (*l)["items"]) {
      std::string ns = core::string_at(cl, "metadata.namespace"), name = core::string_at(cl, "metadata.name");
      if (auto r = c.remove(kube::clusters_ref(), ns, name); !r && r.error().code != core::Code::kNotFound) {
        print_error(err, r.error(), ns + "/" + name);
        return 1;
      }
      out << "deleting PolarDBCluster " << ns << "/" << name << "\n";
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (true) {
      auto left = c.list(kube::clusters_ref(), "");
      if (left && left->value("items", core::Json::array()).empty()) break;
      if (std::chrono::steady_clock::now() > deadline) {
        err << "error: clusters are still being deleted after 5 minutes; see: polarctl ops -A\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling the API for the deletion to finish
    }
    out << "all clusters deleted\n";
  }
  // The server binary sits next to polarctl.
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string server = n > 0 ? (std::filesystem::path(std::string(self, static_cast<size_t>(n))).parent_path() / "polarstack").string()
                             : "polarstack";
  std::string home = core::polarstack_home();
  std::vector<std::string> argv = {server, "stop", "--all", "--home", home};
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  out.flush();
  ::execv(cargv[0], cargv.data());
  err << "error: cannot run " << server << ": " << std::strerror(errno) << "\n";
  return 1;
}

}  // namespace polarstack::polarctl
