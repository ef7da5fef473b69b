// A small PostgreSQL frontend (protocol 3.0, extended query) over a unix socket, for the
// instance manager. It replaces libpq there: libpq alone costs a process ~8 MB of resident
// memory through its TLS, Kerberos and LDAP libraries. No TLS and no password methods:
// it authenticates as what the server grants without a password, i.e. peer on the
// manager's own 0700 socket directory, where pg_hba maps the manager's OS user to the
// superuser (instance/postgres.cc writes that).
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"

namespace polarstack::engine {

using WireRow = std::vector<std::optional<std::string>>;  // nullopt: SQL NULL

class WireConnection {
 public:
  struct Target {
    std::string socket_dir;  // the server's unix_socket_directories entry
    int port = 5432;
    std::string user, dbname, application_name;
  };
  static core::Result<WireConnection> open(const Target& t, std::chrono::milliseconds timeout);
  WireConnection(WireConnection&& o) noexcept;
  WireConnection& operator=(WireConnection&& o) noexcept;
  ~WireConnection();

  // Runs one statement with positional text parameters ($1, $2, ...), returns the rows.
  // Any I/O error or timeout breaks the connection (ok() turns false).
  core::Result<std::vector<WireRow>> query(const std::string& sql, const std::vector<std::string>& params = {},
                                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The same with a statement prepared once per connection under `name` (for a query
  // run again and again: it is not parsed and planned each time).
  core::Result<std::vector<WireRow>> query_prepared(const std::string& name, const std::string& sql,
                                                    const std::vector<std::string>& params = {},
                                                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
  core::Status exec(const std::string& sql, const std::vector<std::string>& params = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool ok() const { return fd_ >= 0; }

 private:
  WireConnection() = default;
  void close();
  core::Result<std::vector<WireRow>> run(const std::string& sql, const std::string& name,
                                         const std::vector<std::string>& params, std::chrono::milliseconds timeout);
  core::Status send_all(const std::string& bytes, std::chrono::steady_clock::time_point deadline);
  // One backend message: its type and payload.
  core::Status read_message(char& type, std::string& payload, std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string in_;  // bytes read but not yet consumed
  std::set<std::string> prepared_;  // statements prepared on this connection
};

}  // namespace polarstack::engine
