#include "kube/client.h"

#include <httplib.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <csignal>
#include <mutex>
#include <thread>

namespace polarstack::kube {

using core::Code;
using core::fail;

std::string ResourceRef::path(const std::string& ns, const std::string& name) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + plural;
  if (!name.empty()) p += "/" + name;
  return p;
}

const ResourceRef& clusters_ref() {
  static const ResourceRef r{"polarstack.io", "v1", "polardbclusters", "PolarDBCluster", true};
  return r;
}
const ResourceRef& operations_ref() {
  static const ResourceRef r{"polarstack.io", "v1", "polardboperations", "PolarDBOperation", true};
  return r;
}
const ResourceRef& secrets_ref() {
  static const ResourceRef r{"", "v1", "secrets", "Secret", true};
  return r;
}
const ResourceRef& events_ref() {
  static const ResourceRef r{"", "v1", "events", "Event", true};
  return r;
}

std::string url_encode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

namespace {

struct Url {
  std::string scheme, host;
  int port = 0;
  std::string base_path;
};

core::Result<Url> parse_url(const std::string& s) {
  Url u;
  auto sep = s.find("://");
  if (sep == std::string::npos) return fail(Code::kInvalid, "server URL \"" + s + "\" has no scheme");
  u.scheme = s.substr(0, sep);
  if (u.scheme != "http" && u.scheme != "https") return fail(Code::kInvalid, "server URL \"" + s + "\": scheme must be http or https");
  std::string rest = s.substr(sep + 3);
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) u.base_path = rest.substr(slash);
  while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  auto colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']', colon) == std::string::npos) {
    u.host = hostport.substr(0, colon);
    u.port = std::atoi(hostport.substr(colon + 1).c_str());
  } else {
    u.host = hostport;
    u.port = u.scheme == "https" ? 443 : 80;
  }
  if (u.host.size() > 2 && u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
  return u;
}

std::string query_of(const ListOptions& o) {
  std::string q;
  if (!o.label_selector.empty()) q += "&labelSelector=" + url_encode(o.label_selector);
  if (!o.field_selector.empty()) q += "&fieldSelector=" + url_encode(o.field_selector);
  return q;
}

Code code_of_http(int status) {
  switch (status) {
    case 400: return Code::kBadRequest;
    case 401: return Code::kUnauthorized;
    case 403: return Code::kForbidden;
    case 404: return Code::kNotFound;
    case 409: return Code::kConflict;
    case 410: return Code::kGone;
    case 415: return Code::kUnsupported;
    case 422: return Code::kInvalid;
    case 503: return Code::kUnavailable;
    case 504: return Code::kTimeout;
    default: return Code::kInternal;
  }
}

// Turns a metav1.Status into an Error, keeping the field causes.
core::Error error_from_status(int http_status, const Json& s, const std::string& fallback) {
  core::Error e(code_of_http(http_status), s.is_object() ? s.value("message", fallback) : fallback);
  if (s.is_object() && s.value("reason", "") == "AlreadyExists") e.code = Code::kAlreadyExists;
  if (s.is_object() && s.contains("details") && s["details"].contains("causes")) {
    for (const auto& c : s["details"]["causes"]) e.causes.push_back({c.value("field", ""), c.value("message", "")});
    // The message repeats the causes for clients that print only it; we list them instead.
    if (auto cut = e.message.find(" is invalid: "); cut != std::string::npos) e.message.resize(cut + 11);
  }
  return e;
}

// Why this thread's last handshake refused the server's certificate (the handshake runs
// on the requesting thread).
thread_local std::string t_verify_error;

int record_verify_error(int ok, X509_STORE_CTX* ctx) {
  if (!ok) t_verify_error = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  return ok;
}

}  // namespace

Client::Client(ClientConfig cfg) : cfg_(std::move(cfg)) {
  // OpenSSL writes with write(2): a server that went away would otherwise kill this whole
  // process with SIGPIPE instead of failing the request with EPIPE.
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}
Client::~Client() = default;

std::unique_ptr<httplib::ClientImpl> Client::connect(int read_timeout_seconds) const {
  auto url = parse_url(cfg_.server);
  if (!url) return nullptr;
  std::unique_ptr<httplib::ClientImpl> c;
  if (url->scheme == "https") {
    X509* cert = nullptr;
    EVP_PKEY* key = nullptr;
    if (!cfg_.client_cert_pem.empty() && !cfg_.client_key_pem.empty()) {
      BIO* b = BIO_new_mem_buf(cfg_.client_cert_pem.data(), static_cast<int>(cfg_.client_cert_pem.size()));
      cert = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
      BIO_free(b);
      b = BIO_new_mem_buf(cfg_.client_key_pem.data(), static_cast<int>(cfg_.client_key_pem.size()));
      key = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
      BIO_free(b);
    }
    auto ssl = cert && key ? std::make_unique<httplib::SSLClient>(url->host, url->port, cert, key)
                           : std::make_unique<httplib::SSLClient>(url->host, url->port);
    if (cert) X509_free(cert);
    if (key) EVP_PKEY_free(key);
    // OpenSSL verifies the server in the handshake: the kubeconfig's CA is the only trust
    // anchor (as with kubectl) and the name must match the certificate. httplib's own
    // check is left off: it would load the whole system CA bundle into every context
    // (about 1 MB of parsed certificates per client, and the CPU to parse them).
    SSL_CTX* ctx = ssl->ssl_context();
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);  // an idle watch holds no 34 KB of buffers
    ssl->enable_server_certificate_verification(false);
    if (!cfg_.insecure_skip_verify) {
      if (!cfg_.ca_pem.empty()) {
        X509_STORE* store = X509_STORE_new();
        BIO* b = BIO_new_mem_buf(cfg_.ca_pem.data(), static_cast<int>(cfg_.ca_pem.size()));
        while (X509* ca = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
          X509_STORE_add_cert(store, ca);
          X509_free(ca);
        }
        BIO_free(b);
        ERR_clear_error();  // the end of the PEM data
        SSL_CTX_set_cert_store(ctx, store);  // owned by the context from here on
      } else {
        SSL_CTX_set_default_verify_paths(ctx);  // no CA given: the system's, as kubectl does
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, record_verify_error);
      X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
      unsigned char addr[16];
      bool is_ip = inet_pton(AF_INET, url->host.c_str(), addr) == 1 || inet_pton(AF_INET6, url->host.c_str(), addr) == 1;
      if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(param, url->host.c_str());
      else X509_VERIFY_PARAM_set1_host(param, url->host.c_str(), 0);
    }
    c = std::move(ssl);
  } else {
    c = std::make_unique<httplib::ClientImpl>(url->host, url->port);
  }
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(read_timeout_seconds, 0);
  c->set_write_timeout(30, 0);
  c->set_tcp_nodelay(true);
  if (!cfg_.token.empty()) c->set_bearer_token_auth(cfg_.token);
  return c;
}

core::Error Client::transport_error(const std::string& what) const {
  return core::Error(Code::kUnavailable, "cannot reach the API server at " + cfg_.server + " (" + what +
                                             "); is it running? Start it with: polarstack server");
}

core::Result<Json> Client::decode_response(int status, const std::string& body, const std::string& what) const {
  Json parsed;
  if (!body.empty()) {
    auto p = core::parse_json(body);
    if (p) parsed = std::move(*p);
  }
  if (status >= 200 && status < 300) {
    if (body.empty()) return Json::object();
    if (parsed.is_null()) return fail(Code::kInternal, "the server sent a response that is not JSON for " + what);
    return parsed;
  }
  if (status == 401) {
    return fail(Code::kUnauthorized, "the API server at " + cfg_.server + " rejected the credentials from " +
                                         (cfg_.source.empty() ? std::string("the kubeconfig") : cfg_.source) +
                                         " (401 Unauthorized)");
  }
  return fail(error_from_status(status, parsed, "HTTP " + std::to_string(status) + " for " + what));
}

core::Result<Json> Client::request(const std::string& method, const std::string& path_and_query, const std::string& body,
                                   const std::string& content_type, const std::string& accept) {
  auto url = parse_url(cfg_.server);
  if (!url) return fail(url.error());
  std::string full = url->base_path + path_and_query;
  std::lock_guard<std::mutex> lock(mu_);
  if (method != "GET" && method != "POST" && method != "PUT" && method != "PATCH" && method != "DELETE") {
    return fail(Code::kBadRequest, "unsupported method " + method);
  }
  constexpr auto kIdleReuse = std::chrono::milliseconds(1000);
  // The connection is closed, not the client: its TLS context (the CA store parsed from
  // the kubeconfig) is kept for the next one.
  if (http_ && std::chrono::steady_clock::now() - last_used_ > kIdleReuse) http_->stop();
  httplib::Headers headers = {{"Accept", accept}};
  auto send = [&]() -> httplib::Result {
    if (!http_) {
      http_ = connect(60);
      if (!http_) return httplib::Result(nullptr, httplib::Error::Connection);
      http_->set_keep_alive(true);
    }
    if (method == "GET") return http_->Get(full.c_str(), headers);
    if (method == "POST") return http_->Post(full.c_str(), headers, body, content_type.c_str());
    if (method == "PUT") return http_->Put(full.c_str(), headers, body, content_type.c_str());
    if (method == "PATCH") return http_->Patch(full.c_str(), headers, body, content_type.c_str());
    return http_->Delete(full.c_str(), headers, body, content_type.c_str());
  };
  bool reused = http_ && http_->is_socket_open() > 0;
  t_verify_error.clear();  // what a failed handshake below says is about this request
  httplib::Result res = send();
  if (!res && reused && res.error() == httplib::Error::Write) {
    http_->stop();  // not delivered over a connection the server had closed: once more, on a new one
    res = send();
  }
  last_used_ = std::chrono::steady_clock::now();
  if (!res && !http_) return fail(Code::kInvalid, "invalid server URL " + cfg_.server);
  if (!keep_alive_) http_->stop();
  if (!res) {
    std::string why = httplib::to_string(res.error());
    http_->stop();  // a broken keep-alive connection is not reused
    if (res.error() == httplib::Error::SSLConnection && !t_verify_error.empty()) {
      return fail(Code::kUnavailable, "refusing the API server at " + cfg_.server + ": its certificate failed verification (" +
                                          t_verify_error + "); it must be signed by the certificate-authority in " +
                                          (cfg_.source.empty() ? std::string("the kubeconfig") : cfg_.source) +
                                          " and issued for " + url->host);
    }
    return fail(transport_error(why));
  }
  return decode_response(res->status, res->body, method + " " + path_and_query);
}

core::Result<Json> Client::get(const ResourceRef& r, const std::string& ns, const std::string& name) {
  return request("GET", r.path(ns, name));
}

core::Result<Json> Client::list(const ResourceRef& r, const std::string& ns, const ListOptions& opts) {
  std::string q = query_of(opts);
  return request("GET", r.path(ns) + (q.empty() ? "" : "?" + q.substr(1)));
}

core::Result<Json> Client::create(const ResourceRef& r, const std::string& ns, const Json& object) {
  return request("POST", r.path(ns), object.dump());
}

core::Result<Json> Client::update(const ResourceRef& r, const std::string& ns, const Json& object) {
  return request("PUT", r.path(ns, core::string_at(object, "metadata.name")), object.dump());
}

core::Result<Json> Client::update_status(const ResourceRef& r, const std::string& ns, const Json& object) {
  return request("PUT", r.path(ns, core::string_at(object, "metadata.name")) + "/status", object.dump());
}

core::Result<Json> Client::patch(const ResourceRef& r, const std::string& ns, const std::string& name, const Json& patch,
                                 PatchKind kind, bool status) {
  return request("PATCH", r.path(ns, name) + (status ? "/status" : ""), patch.dump(),
                 kind == PatchKind::kMerge ? "application/merge-patch+json" : "application/json-patch+json");
}

core::Result<Json> Client::remove(const ResourceRef& r, const std::string& ns, const std::string& name,
                                  const Json& options) {
  return request("DELETE", r.path(ns, name), options.dump());
}

core::Status Client::watch(const ResourceRef& r, const std::string& ns, const ListOptions& opts,
                           const std::string& resource_version,
                           const std::function<bool(const WatchEvent&)>& on_event, const std::atomic<bool>* stop,
                           int timeout_seconds) {
  auto url = parse_url(cfg_.server);
  if (!url) return fail(url.error());
  auto http = connect(timeout_seconds + 30);
  if (!http) return fail(Code::kInvalid, "invalid server URL " + cfg_.server);
  std::string accept = opts.as_table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json";
  std::string path = url->base_path + r.path(ns) + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=" +
                     std::to_string(timeout_seconds) + query_of(opts);
  if (!resource_version.empty()) path += "&resourceVersion=" + url_encode(resource_version);

  // Closes the connection as soon as the caller asks to stop, even while no data flows.
  std::atomic<bool> done{false};
  std::thread stopper;
  if (stop) {
    stopper = std::thread([&] {
      // Polls the caller's flag: a stop is seen within 200 ms; faster costs idle CPU in every watcher.
      while (!done.load() && !stop->load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!done.load()) http->stop();
    });
  }
  struct JoinOnExit {
    std::atomic<bool>& done;
    std::thread& t;
    ~JoinOnExit() {
      done = true;
      if (t.joinable()) t.join();
    }
  } join_on_exit{done, stopper};

  std::string buffer, error_body;
  int status = 0;
  std::optional<core::Error> stream_error;
  bool stopped_by_caller = false;
  auto res = http->Get(
      path.c_str(), httplib::Headers{{"Accept", accept}},
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, size_t len) {
        if (status != 200) {
          error_body.append(data, len);
          return true;
        }
        buffer.append(data, len);
        size_t nl;
        while ((nl = buffer.find('\n')) != std::string::npos) {
          std::string line = buffer.substr(0, nl);
          buffer.erase(0, nl + 1);
          if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // heartbeat
          auto ev = core::parse_json(line);
          if (!ev || !ev->is_object()) {
            stream_error = core::Error(Code::kInternal, "malformed watch event");
            return false;
          }
          WatchEvent we{ev->value("type", ""), (*ev)["object"]};
          if (we.type == "ERROR") {
            int code = we.object.value("code", 500);
            stream_error = error_from_status(code, we.object, "watch error");
            if (code == 410) stream_error->code = Code::kGone;
            return false;
          }
          if (!on_event(we)) {
            stopped_by_caller = true;
            return false;
          }
        }
        return !(stop && stop->load());
      });
  if (stream_error) return fail(*stream_error);
  if (status != 0 && status != 200) {
    auto r2 = decode_response(status, error_body, "watch " + r.plural);
    return fail(r2 ? core::Error(Code::kInternal, "watch failed") : r2.error());
  }
  if (!res && !stopped_by_caller && !(stop && stop->load())) {
    if (res.error() == httplib::Error::Read) return {};  // the stream ended (server timeout or close)
    return fail(transport_error(httplib::to_string(res.error())));
  }
  return {};
}

}  // namespace polarstack::kube
