#include "engine/pg.h"

#include <libpq-fe.h>

#include <cstdio>

#include "core/files.h"

namespace polarstack::engine {

using core::Code;

core::Result<Connection> Connection::open(const std::vector<std::pair<std::string, std::string>>& params,
                                          std::chrono::seconds connect_timeout) {
  std::vector<std::string> keys, values;
  for (const auto& [k, v] : params) {
    keys.push_back(k);
    values.push_back(v);
  }
  keys.push_back("connect_timeout");
  values.push_back(std::to_string(connect_timeout.count()));
  std::vector<const char*> kp, vp;
  for (size_t i = 0; i < keys.size(); ++i) {
    kp.push_back(keys[i].c_str());
    vp.push_back(values[i].c_str());
  }
  kp.push_back(nullptr);
  vp.push_back(nullptr);
  Connection c;
  c.conn_ = PQconnectdbParams(kp.data(), vp.data(), 0);
  if (!c.conn_ || PQstatus(c.conn_) != CONNECTION_OK) {
    std::string msg = core::trim_right(c.conn_ ? PQerrorMessage(c.conn_) : "out of memory");
    return core::fail(Code::kUnavailable, "cannot connect to PostgreSQL: " + msg);
  }
  return c;
}

Connection::Connection(Connection&& o) noexcept : conn_(o.conn_) { o.conn_ = nullptr; }
Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (conn_) PQfinish(conn_);
    conn_ = o.conn_;
    o.conn_ = nullptr;
  }
  return *this;
}
Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

bool Connection::ok() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

core::Result<std::vector<Row>> Connection::query(const std::string& sql, const std::vector<std::string>& params) {
  if (!conn_) return core::fail(Code::kUnavailable, "not connected");
  std::vector<const char*> vals;
  for (const auto& p : params) vals.push_back(p.c_str());
  PGresult* res = PQexecParams(conn_, sql.c_str(), static_cast<int>(vals.size()), nullptr, vals.data(), nullptr,
                               nullptr, 0);
  auto st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string msg = core::trim_right(PQresultErrorMessage(res));
    PQclear(res);
    return core::fail(ok() ? Code::kInternal : Code::kUnavailable, msg);
  }
  std::vector<Row> rows;
  int n = PQntuples(res), m = PQnfields(res);
  for (int i = 0; i < n; ++i) {
    Row r;
    for (int j = 0; j < m; ++j) {
      if (PQgetisnull(res, i, j)) r.push_back(std::nullopt);
      else r.push_back(std::string(PQgetvalue(res, i, j)));
    }
    rows.push_back(std::move(r));
  }
  PQclear(res);
  return rows;
}

core::Status Connection::exec(const std::string& sql, const std::vector<std::string>& params) {
  auto r = query(sql, params);
  if (!r) return std::unexpected(r.error());
  return {};
}

std::string quote_ident(const std::string& ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace polarstack::engine
