// PostgreSQL over libpq: a connection, simple queries with text results, and LSNs.
// Adapter code: the domain reaches the engine through ports, never through this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

struct pg_conn;

namespace polarstack::engine {

using Row = std::vector<std::optional<std::string>>;  // nullopt: SQL NULL

class Connection {
 public:
  // conninfo: libpq keyword/value string; parameters are passed as separate keywords,
  // never spliced into SQL.
  static core::Result<Connection> open(const std::vector<std::pair<std::string, std::string>>& params,
                                       std::chrono::seconds connect_timeout = std::chrono::seconds(3));
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  // Runs `sql` with positional parameters ($1, $2, ...), returns the rows.
  core::Result<std::vector<Row>> query(const std::string& sql, const std::vector<std::string>& params = {});
  core::Status exec(const std::string& sql, const std::vector<std::string>& params = {});
  bool ok() const;

 private:
  Connection() = default;
  pg_conn* conn_ = nullptr;
};

// Quotes an identifier for SQL ("name" with doubled quotes).
std::string quote_ident(const std::string& ident);

}  // namespace polarstack::engine
