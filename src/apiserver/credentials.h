// The local API server's credentials: a bearer token generated on first start and a
// kubeconfig that polarctl, the operator and kubectl use. Both files are 0600.
#pragma once

#include <string>

#include "core/error.h"

namespace polarstack::apiserver {

// Reads `path`, or creates it with a new random token. The token is never logged.
core::Result<std::string> load_or_create_token(const std::string& path);
// A kubeconfig with one cluster/user/context named "polarstack", namespace "default",
// trusting `ca_pem` (empty: none, for a plain-HTTP test server).
std::string render_kubeconfig(const std::string& server_url, const std::string& token, const std::string& ca_pem);
core::Status write_kubeconfig(const std::string& path, const std::string& server_url, const std::string& token,
                              const std::string& ca_pem);

}  // namespace polarstack::apiserver
