#include "kube/config.h"

#include <cstdlib>

#include "core/base64.h"
#include "core/files.h"
#include "core/yaml.h"

namespace polarstack::kube {

using core::Code;
using core::fail;
using core::Json;

namespace {

// The entry called `name` in the list `kc[list_key]` (clusters, users, contexts).
const Json* named(const Json& kc, const char* list_key, const std::string& name) {
  auto it = kc.find(list_key);
  if (it == kc.end() || !it->is_array()) return nullptr;
  for (const auto& e : *it) {
    if (e.is_object() && e.value("name", "") == name) return &e;
  }
  return nullptr;
}

// Reads `<key>-data` (base64) or `<key>` (a file path) into `out`.
core::Status data_or_file(const Json& obj, const std::string& key, const std::string& base_dir, std::string& out,
                          const std::string& where) {
  if (obj.contains(key + "-data") && obj[key + "-data"].is_string()) {
    auto d = core::base64_decode(obj[key + "-data"].get<std::string>());
    if (!d) return fail(Code::kInvalid, where + "." + key + "-data: " + d.error().message);
    out = *d;
  } else if (obj.contains(key) && obj[key].is_string()) {
    std::string p = obj[key].get<std::string>();
    if (!p.empty() && p[0] != '/') p = base_dir + "/" + p;
    auto d = core::read_file(p);
    if (!d) return fail(Code::kInvalid, where + "." + key + ": " + d.error().message);
    out = *d;
  }
  return {};
}

}  // namespace

core::Result<ClientConfig> parse_kubeconfig(const std::string& text, const std::string& context,
                                            const std::string& base_dir) {
  auto docs = core::parse_yaml_documents(text);
  if (!docs) return fail(docs.error());
  if (docs->empty() || !(*docs)[0].is_object()) return fail(Code::kInvalid, "kubeconfig is empty");
  const Json& kc = (*docs)[0];
  std::string ctx_name = context.empty() ? kc.value("current-context", "") : context;
  if (ctx_name.empty()) return fail(Code::kInvalid, "kubeconfig has no current-context");
  const Json* ctx = named(kc, "contexts", ctx_name);
  if (!ctx || !ctx->contains("context")) return fail(Code::kInvalid, "context \"" + ctx_name + "\" not found in kubeconfig");
  const Json& c = (*ctx)["context"];
  ClientConfig cfg;
  cfg.ns = c.value("namespace", "default");
  const Json* cluster = named(kc, "clusters", c.value("cluster", ""));
  if (!cluster || !cluster->contains("cluster")) {
    return fail(Code::kInvalid, "cluster \"" + c.value("cluster", "") + "\" not found in kubeconfig");
  }
  const Json& cl = (*cluster)["cluster"];
  cfg.server = cl.value("server", "");
  if (cfg.server.empty()) return fail(Code::kInvalid, "kubeconfig cluster has no server");
  cfg.insecure_skip_verify = cl.value("insecure-skip-tls-verify", false);
  if (auto st = data_or_file(cl, "certificate-authority", base_dir, cfg.ca_pem, "cluster"); !st) return fail(st.error());
  if (const Json* user = named(kc, "users", c.value("user", "")); user && user->contains("user")) {
    const Json& u = (*user)["user"];
    cfg.token = u.value("token", "");
    if (cfg.token.empty() && u.contains("tokenFile")) {
      auto t = core::read_file(u["tokenFile"].get<std::string>());
      if (!t) return fail(t.error());
      cfg.token = *t;
    }
    if (auto st = data_or_file(u, "client-certificate", base_dir, cfg.client_cert_pem, "user"); !st) return fail(st.error());
    if (auto st = data_or_file(u, "client-key", base_dir, cfg.client_key_pem, "user"); !st) return fail(st.error());
  }
  while (!cfg.token.empty() && std::isspace(static_cast<unsigned char>(cfg.token.back()))) cfg.token.pop_back();
  return cfg;
}

core::Result<ClientConfig> load_kubeconfig(const std::string& path, const std::string& context) {
  auto text = core::read_file(path);
  if (!text) return fail(Code::kNotFound, "cannot read kubeconfig " + path);
  auto slash = path.rfind('/');
  auto cfg = parse_kubeconfig(*text, context, slash == std::string::npos ? "." : path.substr(0, slash));
  if (!cfg) return fail(cfg.error().code, path + ": " + cfg.error().message);
  cfg->source = path;
  return cfg;
}

core::Result<ClientConfig> in_cluster_config(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port) return fail(Code::kNotFound, "not running in a Kubernetes pod");
  ClientConfig cfg;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  cfg.server = "https://" + h + ":" + port;
  auto token = core::read_file(sa_dir + "/token");
  if (!token) return fail(token.error());
  cfg.token = *token;
  while (!cfg.token.empty() && std::isspace(static_cast<unsigned char>(cfg.token.back()))) cfg.token.pop_back();
  if (auto ca = core::read_file(sa_dir + "/ca.crt")) cfg.ca_pem = *ca;
  if (auto ns = core::read_file(sa_dir + "/namespace")) cfg.ns = *ns;
  cfg.source = "in-cluster service account";
  return cfg;
}

core::Result<ClientConfig> default_config(const std::string& explicit_path, const std::string& context) {
  if (!explicit_path.empty()) return load_kubeconfig(explicit_path, context);
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::string first = env;
    first = first.substr(0, first.find(':'));
    return load_kubeconfig(first, context);
  }
  std::string local = core::polarstack_home() + "/kubeconfig";
  if (core::file_exists(local)) return load_kubeconfig(local, context);
  if (auto ic = in_cluster_config()) return ic;
  return fail(Code::kUnavailable, "no kubeconfig found at " + local +
                                      ": the polarstack server writes it when it starts (start it with: polarstack server)");
}

}  // namespace polarstack::kube
