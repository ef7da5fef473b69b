// The embedded API server's HTTP front: a Kubernetes-compatible REST subset over the
// Store. Every request needs the bearer token; it binds to 127.0.0.1 only.
//
//   /version /healthz /api /api/v1 /apis /apis/<g> /apis/<g>/<v>       discovery
//   /api/v1[/namespaces/<ns>]/<plural>[/<name>[/status]]                core kinds
//   /apis/<g>/<v>[/namespaces/<ns>]/<plural>[/<name>[/status]]          other groups
//
// GET (object, list; ?watch=1 streams events; Accept ...;as=Table gives printer
// columns), POST, PUT, PATCH (merge and JSON patch), DELETE (finalizer-aware).
#pragma once

#include <memory>
#include <string>

#include "apiserver/store.h"
#include "core/error.h"

namespace polarstack::apiserver {

class ApiServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;           // 0: any free port
    std::string token;      // required bearer token
    size_t threads = 256;   // each open watch holds one
    std::string cert_path;  // TLS certificate and key; both empty: plain HTTP (tests only)
    std::string key_path;
  };

  ApiServer(Store& store, Options opts);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket; returns the port.
  core::Result<int> bind();
  // Serves until stop(). REQUIRES: bind() succeeded.
  void serve();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace polarstack::apiserver
