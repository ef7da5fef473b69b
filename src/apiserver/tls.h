// TLS material of the local API server: on first start, a private CA and a server
// certificate for 127.0.0.1 and localhost signed by it (ECDSA P-256, 10 years), kept in
// the state directory (keys 0600). Clients trust the CA through the kubeconfig.
#pragma once

#include <string>

#include "core/error.h"

namespace polarstack::apiserver {

struct TlsFiles {
  std::string ca_cert_path;
  std::string cert_path;
  std::string key_path;
  std::string ca_pem;  // for certificate-authority-data
};

// Loads the files from `dir`, creating what is missing.
core::Result<TlsFiles> ensure_tls(const std::string& dir);

}  // namespace polarstack::apiserver
