#include "engine/wire.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace polarstack::engine {

using core::Code;
using Clock = std::chrono::steady_clock;

namespace {
void put32(std::string& s, int32_t v) {
  auto u = static_cast<uint32_t>(v);
  s += static_cast<char>(u >> 24);
  s += static_cast<char>(u >> 16);
  s += static_cast<char>(u >> 8);
  s += static_cast<char>(u);
}
void put16(std::string& s, int16_t v) {
  auto u = static_cast<uint16_t>(v);
  s += static_cast<char>(u >> 8);
  s += static_cast<char>(u);
}
int32_t get32(const std::string& s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return static_cast<int32_t>(b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3));
}
int16_t get16(const std::string& s, size_t at) {
  return static_cast<int16_t>(static_cast<unsigned char>(s[at]) << 8 | static_cast<unsigned char>(s[at + 1]));
}
// A frontend message: type byte, then length (including itself) and body.
std::string message(char type, const std::string& body) {
  std::string m(1, type);
  put32(m, static_cast<int32_t>(body.size() + 4));
  return m + body;
}
std::string cstr(const std::string& s) { return s + '\0'; }

// "ERROR: message (SQLSTATE xxxxx)" from an ErrorResponse's fields.
std::string error_text(const std::string& payload) {
  std::string severity, text, code;
  for (size_t i = 0; i < payload.size() && payload[i];) {
    char f = payload[i++];
    size_t end = payload.find('\0', i);
    if (end == std::string::npos) break;
    std::string v = payload.substr(i, end - i);
    if (f == 'S') severity = v;
    if (f == 'M') text = v;
    if (f == 'C') code = v;
    i = end + 1;
  }
  return (severity.empty() ? "" : severity + ":  ") + text + (code.empty() ? "" : " (SQLSTATE " + code + ")");
}

int remaining_ms(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms <= 0 ? 0 : static_cast<int>(ms);
}
}  // namespace

WireConnection::WireConnection(WireConnection&& o) noexcept
    : fd_(o.fd_), in_(std::move(o.in_)), prepared_(std::move(o.prepared_)) {
  o.fd_ = -1;
}
WireConnection& WireConnection::operator=(WireConnection&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    in_ = std::move(o.in_);
    prepared_ = std::move(o.prepared_);
    o.fd_ = -1;
  }
  return *this;
}
WireConnection::~WireConnection() {
  if (fd_ >= 0) {
    std::string bye = message('X', "");
    (void)!::send(fd_, bye.data(), bye.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  close();
}

void WireConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  in_.clear();
  prepared_.clear();
}

core::Status WireConnection::send_all(const std::string& bytes, Clock::time_point deadline) {
  for (size_t off = 0; off < bytes.size();) {
    pollfd p{fd_, POLLOUT, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      close();
      return core::fail(Code::kUnavailable, r == 0 ? "timed out writing to PostgreSQL" : std::strerror(errno));
    }
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      std::string e = std::strerror(errno);
      close();
      return core::fail(Code::kUnavailable, "lost the connection to PostgreSQL: " + e);
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

core::Status WireConnection::read_message(char& type, std::string& payload, Clock::time_point deadline) {
  while (true) {
    if (in_.size() >= 5) {
      int32_t len = get32(in_, 1);
      if (len < 4 || len > (64 << 20)) {
        close();
        return core::fail(Code::kInternal, "malformed message from PostgreSQL");
      }
      if (in_.size() >= static_cast<size_t>(len) + 1) {
        type = in_[0];
        payload = in_.substr(5, static_cast<size_t>(len) - 4);
        in_.erase(0, static_cast<size_t>(len) + 1);
        return {};
      }
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      close();
      return core::fail(Code::kUnavailable, r == 0 ? "timed out waiting for PostgreSQL" : std::strerror(errno));
    }
    char buf[8192];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      close();
      return core::fail(Code::kUnavailable, "PostgreSQL closed the connection");
    }
    in_.append(buf, static_cast<size_t>(n));
  }
}

core::Result<WireConnection> WireConnection::open(const Target& t, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string path = t.socket_dir + "/.s.PGSQL." + std::to_string(t.port);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return core::fail(Code::kInvalid, "socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  WireConnection c;
  c.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c.fd_ < 0) return core::fail(Code::kInternal, std::string("socket: ") + std::strerror(errno));
  if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return core::fail(Code::kUnavailable, "cannot connect to PostgreSQL on " + path + ": " + std::strerror(errno));
  }
  std::string body;
  put32(body, 196608);  // protocol 3.0
  body += cstr("user") + cstr(t.user) + cstr("database") + cstr(t.dbname);
  if (!t.application_name.empty()) body += cstr("application_name") + cstr(t.application_name);
  body += '\0';
  std::string startup;
  put32(startup, static_cast<int32_t>(body.size() + 4));
  if (auto st = c.send_all(startup + body, deadline); !st) return std::unexpected(st.error());
  while (true) {
    char type = 0;
    std::string payload;
    if (auto st = c.read_message(type, payload, deadline); !st) {
      return core::fail(st.error().code, "cannot connect to PostgreSQL: " + st.error().message);
    }
    if (type == 'E') return core::fail(Code::kUnavailable, "cannot connect to PostgreSQL: " + error_text(payload));
    if (type == 'R') {
      int32_t method = payload.size() >= 4 ? get32(payload, 0) : -1;
      if (method != 0) {
        return core::fail(Code::kUnavailable, "cannot connect to PostgreSQL: it asks for authentication method " +
                                                  std::to_string(method) + "; only peer or trust is supported here");
      }
    }
    if (type == 'Z') return c;  // ReadyForQuery; ParameterStatus, BackendKeyData, notices ignored
  }
}

core::Result<std::vector<WireRow>> WireConnection::query(const std::string& sql, const std::vector<std::string>& params,
                                                         std::chrono::milliseconds timeout) {
  return run(sql, "", params, timeout);
}

core::Result<std::vector<WireRow>> WireConnection::query_prepared(const std::string& name, const std::string& sql,
                                                                  const std::vector<std::string>& params,
                                                                  std::chrono::milliseconds timeout) {
  auto r = run(sql, name, params, timeout);
  if (r) prepared_.insert(name);
  return r;
}

core::Result<std::vector<WireRow>> WireConnection::run(const std::string& sql, const std::string& name,
                                                       const std::vector<std::string>& params,
                                                       std::chrono::milliseconds timeout) {
  if (fd_ < 0) return core::fail(Code::kUnavailable, "not connected");
  auto deadline = Clock::now() + timeout;
  // Parsed (and planned) once per connection when named; unnamed, every time.
  std::string out = !name.empty() && prepared_.count(name)
                        ? std::string()
                        : message('P', cstr(name) + cstr(sql) + std::string(2, '\0'));  // no parameter types
  std::string bind = cstr("") + cstr(name);
  put16(bind, 0);  // parameters in text
  put16(bind, static_cast<int16_t>(params.size()));
  for (const auto& p : params) {
    put32(bind, static_cast<int32_t>(p.size()));
    bind += p;
  }
  put16(bind, 0);  // results in text
  out += message('B', bind) + message('D', "P" + cstr("")) + message('E', cstr("") + std::string(4, '\0')) +
         message('S', "");
  if (auto st = send_all(out, deadline); !st) return std::unexpected(st.error());
  std::vector<WireRow> rows;
  std::optional<std::string> error;
  while (true) {
    char type = 0;
    std::string payload;
    if (auto st = read_message(type, payload, deadline); !st) return std::unexpected(st.error());
    switch (type) {
      case 'D': {
        if (payload.size() < 2) break;
        int16_t n = get16(payload, 0);
        WireRow row;
        size_t at = 2;
        for (int16_t i = 0; i < n && at + 4 <= payload.size(); ++i) {
          int32_t len = get32(payload, at);
          at += 4;
          if (len < 0) {
            row.push_back(std::nullopt);
          } else {
            row.push_back(payload.substr(at, static_cast<size_t>(len)));
            at += static_cast<size_t>(len);
          }
        }
        rows.push_back(std::move(row));
        break;
      }
      case 'E':
        error = error_text(payload);
        break;
      case 'Z':
        if (error) return core::fail(Code::kInternal, *error);
        return rows;
      default:
        break;  // ParseComplete, BindComplete, RowDescription, NoData, CommandComplete, notices
    }
  }
}

core::Status WireConnection::exec(const std::string& sql, const std::vector<std::string>& params,
                                  std::chrono::milliseconds timeout) {
  auto r = query(sql, params, timeout);
  if (!r) return std::unexpected(r.error());
  return {};
}

}  // namespace polarstack::engine
