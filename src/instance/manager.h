// The instance manager (`polarstack-instance --dir <dir>`): supervises one PostgreSQL
// postmaster and serves the instance API on 127.0.0.1:<apiPort> with a bearer token.
//
// - Bootstraps the data directory (initdb or pg_basebackup), then starts or adopts the
//   postmaster (one already running from an earlier manager is adopted, never doubled).
// - When the postmaster dies it kills the rest of its process group at once (orphaned
//   backends must not keep acknowledging commits), then restarts it with backoff;
//   after too many quick crashes it stops trying (state CrashLoop) until asked to restart.
// - SIGTERM (or POST /v1/stop) stops PostgreSQL (fast shutdown) and exits.
//
// API (all need "Authorization: Bearer <token>"):
//   GET    /v1/status            role, state, ready, LSNs, timeline, pid, data size, restarts
//   PUT    /v1/slots/<name>      create a physical replication slot if missing (primary)
//   DELETE /v1/slots/<name>      drop it (ending its walsender first)
//   POST   /v1/restart | /v1/reload | /v1/promote | /v1/stop
#pragma once

#include <string>

namespace polarstack::instance {

// Runs the manager of the instance in `dir` until it is stopped; returns the exit code.
int run_manager(const std::string& dir);

}  // namespace polarstack::instance
