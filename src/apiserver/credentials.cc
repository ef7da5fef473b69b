#include "apiserver/credentials.h"

#include "core/base64.h"
#include "core/files.h"
#include "core/yaml.h"

namespace polarstack::apiserver {

core::Result<std::string> load_or_create_token(const std::string& path) {
  if (core::file_exists(path)) {
    auto t = core::read_file(path);
    if (!t) return t;
    std::string token = *t;
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    if (token.size() >= 32) return token;
  }
  std::string token = core::random_hex(32);
  if (auto st = core::write_file_atomic(path, token + "\n", 0600); !st) return core::fail(st.error());
  return token;
}

std::string render_kubeconfig(const std::string& server_url, const std::string& token, const std::string& ca_pem) {
  core::OrderedJson kc;
  kc["apiVersion"] = "v1";
  kc["kind"] = "Config";
  core::OrderedJson cluster = {{"server", server_url}};
  if (!ca_pem.empty()) cluster["certificate-authority-data"] = core::base64_encode(ca_pem);
  kc["clusters"] = {{{"name", "polarstack"}, {"cluster", cluster}}};
  kc["users"] = {{{"name", "polarstack"}, {"user", {{"token", token}}}}};
  kc["contexts"] = {{{"name", "polarstack"}, {"context", {{"cluster", "polarstack"}, {"user", "polarstack"}, {"namespace", "default"}}}}};
  kc["current-context"] = "polarstack";
  kc["preferences"] = core::OrderedJson::object();
  return core::to_yaml(kc);
}

core::Status write_kubeconfig(const std::string& path, const std::string& server_url, const std::string& token,
                              const std::string& ca_pem) {
  return core::write_file_atomic(path, render_kubeconfig(server_url, token, ca_pem), 0600);
}

}  // namespace polarstack::apiserver
