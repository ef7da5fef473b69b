// Where and how to reach a Kubernetes(-compatible) API server: from a kubeconfig file
// (server, CA, bearer token or client certificate) or from a Pod's service account.
#pragma once

#include <string>

#include "core/error.h"

namespace polarstack::kube {

struct ClientConfig {
  std::string server;      // http(s)://host:port
  std::string ns = "default";
  std::string token;
  std::string ca_pem;      // CA bundle, PEM
  std::string client_cert_pem;
  std::string client_key_pem;
  bool insecure_skip_verify = false;
  std::string source;      // file it came from, for messages
};

// Parses kubeconfig text. `context` empty means current-context. `base_dir` resolves
// relative file paths (certificate-authority, client-certificate, tokenFile).
core::Result<ClientConfig> parse_kubeconfig(const std::string& text, const std::string& context,
                                            const std::string& base_dir);
core::Result<ClientConfig> load_kubeconfig(const std::string& path, const std::string& context = "");
// In a Pod: KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount.
core::Result<ClientConfig> in_cluster_config(const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");
// The first that exists of: `explicit_path`, $KUBECONFIG, $POLARSTACK_HOME/kubeconfig
// (default ~/.polarstack/kubeconfig), the in-cluster service account.
core::Result<ClientConfig> default_config(const std::string& explicit_path = "", const std::string& context = "");

}  // namespace polarstack::kube
