#include "apiserver/http_server.h"

#include <httplib.h>
#include <openssl/crypto.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "apiserver/discovery.h"
#include "apiserver/elastic_pool.h"
#include "apiserver/protobuf.h"
#include "apiserver/resources.h"
#include "apiserver/table.h"
#include "core/log.h"

namespace polarstack::apiserver {

using core::Code;
using core::Json;

namespace {

int http_status(Code c) {
  switch (c) {
    case Code::kOk: return 200;
    case Code::kInvalid: return 422;
    case Code::kBadRequest: return 400;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kConflict: return 409;
    case Code::kGone: return 410;
    case Code::kUnauthorized: return 401;
    case Code::kForbidden: return 403;
    case Code::kUnsupported: return 415;
    case Code::kUnavailable: return 503;
    case Code::kTimeout: return 504;
    case Code::kInternal: return 500;
  }
  return 500;
}

const char* reason_of(Code c) {
  switch (c) {
    case Code::kGone: return "Expired";
    case Code::kBadRequest: return "BadRequest";
    default: return core::code_name(c);
  }
}

// Every body we send: invalid UTF-8 (a name or a parse error quoting the bytes of a
// malformed request) is replaced, never thrown (nlohmann's dump() would throw, and the
// client would get a bare 500).
std::string dump_json(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// A metav1.Status for an error. Invalid errors list every cause, and their message
// names every field, as kubectl prints only the message.
Json status_body(const core::Error& e, const std::string& name = "", const ResourceType* rt = nullptr) {
  std::string message = e.message;
  Json details = Json::object();
  if (!e.causes.empty()) {
    std::string list;
    Json causes = Json::array();
    for (const auto& c : e.causes) {
      list += (list.empty() ? "" : ", ") + c.str();
      causes.push_back({{"reason", "FieldValueInvalid"}, {"message", c.message}, {"field", c.field}});
    }
    message += ": " + (e.causes.size() > 1 ? "[" + list + "]" : list);
    details["causes"] = std::move(causes);
  }
  if (!name.empty()) details["name"] = name;
  if (rt) {
    details["group"] = rt->group;
    details["kind"] = rt->plural;
  }
  Json s = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
            {"message", message}, {"reason", reason_of(e.code)}, {"code", http_status(e.code)}};
  if (!details.empty()) s["details"] = std::move(details);
  return s;
}

void send_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void send_error(httplib::Response& res, const core::Error& e, const std::string& name = "",
                const ResourceType* rt = nullptr) {
  send_json(res, http_status(e.code), dump_json(status_body(e, name, rt)));
}

bool wants_table(const httplib::Request& req) {
  return req.get_header_value("Accept").find("as=Table") != std::string::npos;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty()) out.push_back(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// A request resolved against the registry.
struct Target {
  const ResourceType* rt = nullptr;
  std::string ns;
  std::string name;
  bool status = false;
  bool scale = false;  // the autoscaling/v1 Scale subresource
};

core::Result<PatchType> patch_type(const httplib::Request& req) {
  std::string ct = req.get_header_value("Content-Type");
  if (ct.starts_with("application/merge-patch+json")) return PatchType::kMerge;
  if (ct.starts_with("application/json-patch+json")) return PatchType::kJson;
  if (ct.starts_with("application/strategic-merge-patch+json")) return PatchType::kStrategic;
  if (ct.starts_with("application/apply-patch+yaml")) return PatchType::kApply;
  return core::fail(Code::kUnsupported, "unsupported patch type \"" + ct +
                                            "\": use application/merge-patch+json or application/json-patch+json");
}

bool is_protobuf(const httplib::Request& req) { return is_protobuf_media_type(req.get_header_value("Content-Type")); }

core::Error protobuf_refused() {
  return core::Error(Code::kUnsupported, "protobuf bodies are accepted only to create or replace a Namespace, "
                                         "ConfigMap or Secret; send JSON (for kubectl: kubectl apply -f FILE)");
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

struct ApiServer::Impl {
  Store& store;
  Options opts;
  Registry registry;
  Resources resources;
  std::unique_ptr<httplib::Server> server;
  httplib::Server& http;
  int port = 0;
  int listen_fd = -1;
  std::atomic<bool> stopping{false};

  Impl(Store& s, Options o)
      : store(s),
        opts(std::move(o)),
        resources(s),
        server(opts.cert_path.empty()
                   ? std::make_unique<httplib::Server>()
                   : std::make_unique<httplib::SSLServer>(opts.cert_path.c_str(), opts.key_path.c_str())),
        http(*server) {
    // Most connections are idle watches (one per CM, two for the operator): OpenSSL gives their
    // read and write buffers (about 34 KB each) back while there is nothing to send.
    // No client resumes a TLS session (each connection makes a full handshake), so the
    // server keeps none and issues no session tickets: cached sessions of past
    // connections were memory held for 5 minutes, tickets CPU spent for nothing.
    if (auto* ssl = dynamic_cast<httplib::SSLServer*>(server.get())) {
      SSL_CTX_set_mode(ssl->ssl_context(), SSL_MODE_RELEASE_BUFFERS);
      SSL_CTX_set_session_cache_mode(ssl->ssl_context(), SSL_SESS_CACHE_OFF);
      SSL_CTX_set_num_tickets(ssl->ssl_context(), 0);
    }
  }

  void install();
  void handle(const httplib::Request& req, httplib::Response& res);
  bool discovery(const std::vector<std::string>& segs, httplib::Response& res);
  core::Result<Target> resolve(const std::vector<std::string>& segs);
  void handle_get(const httplib::Request& req, httplib::Response& res, const Target& t);
  void handle_list(const httplib::Request& req, httplib::Response& res, const Target& t);
  void handle_watch(const httplib::Request& req, httplib::Response& res, const Target& t, const LabelSelector& ls,
                    const FieldSelector& fs);
  void handle_scale(const httplib::Request& req, httplib::Response& res, const Target& t);
  void send_object(const httplib::Request& req, httplib::Response& res, const Target& t, const StoredObject& obj,
                   int status);
};


void ApiServer::Impl::install() {
  http.new_task_queue = [n = opts.threads] { return new ElasticPool(std::min<size_t>(4, n), n); };
  http.set_payload_max_length(3 * 1024 * 1024);
  http.set_keep_alive_max_count(100000);
  http.set_keep_alive_timeout(2);  // idle connections hold a thread; stop() waits for them
  http.set_tcp_nodelay(true);
  http.set_socket_options([this](socket_t fd) {
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = fd;  // remembered to widen the listen backlog after bind
  });
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) != 0 || !constant_time_equal(auth.substr(prefix.size()), opts.token)) {
      send_error(res, core::Error(Code::kUnauthorized, "Unauthorized: a valid bearer token is required"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // No exception leaves a handler: a malformed request that trips one gets a Status that
  // names the problem (the fuzz target in tests/fuzz finds such paths so they can get
  // their own check), never httplib's bare 500 with an empty body.
  auto h = [this](const httplib::Request& req, httplib::Response& res) {
    try {
      handle(req, res);
    } catch (const Json::exception& e) {
      send_error(res, core::Error(Code::kBadRequest, std::string("malformed request: ") + e.what()));
    } catch (const std::exception& e) {
      core::log_warn("apiserver", req.method + " " + req.path + ": " + e.what());
      send_error(res, core::Error(Code::kInternal, std::string("internal error: ") + e.what()));
    }
  };
  http.Get(".*", h);
  http.Post(".*", h);
  http.Put(".*", h);
  http.Patch(".*", h);
  http.Delete(".*", h);
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    if (res.status >= 500) core::log_warn("apiserver", req.method + " " + req.path + " -> " + std::to_string(res.status));
    else core::log_debug("apiserver", req.method + " " + req.path + " -> " + std::to_string(res.status) + " (" +
                                          req.get_header_value("User-Agent") + ")");
  });
}

bool ApiServer::Impl::discovery(const std::vector<std::string>& segs, httplib::Response& res) {
  auto send = [&](const Json& j) {
    if (j.is_null()) send_error(res, core::Error(Code::kNotFound, "the server could not find the requested resource"));
    else send_json(res, 200, dump_json(j));
    return true;
  };
  if (segs.size() == 1 && segs[0] == "version") return send(server_version());
  if (segs.size() == 1 && (segs[0] == "healthz" || segs[0] == "readyz" || segs[0] == "livez")) {
    res.set_content("ok", "text/plain");
    return true;
  }
  if (segs.size() == 1 && segs[0] == "api") return send(api_versions(opts.host + ":" + std::to_string(port)));
  if (segs.size() == 2 && segs[0] == "api") return send(api_resource_list(registry, segs[1]));
  if (segs.size() == 1 && segs[0] == "apis") return send(api_group_list(registry));
  if (segs.size() == 2 && segs[0] == "apis") return send(api_group(registry, segs[1]));
  if (segs.size() == 3 && segs[0] == "apis") return send(api_resource_list(registry, segs[1] + "/" + segs[2]));
  return false;
}

core::Result<Target> ApiServer::Impl::resolve(const std::vector<std::string>& segs) {
  auto not_found = [] { return core::fail(Code::kNotFound, "the server could not find the requested resource"); };
  std::string group, version;
  size_t i;
  if (segs.size() >= 3 && segs[0] == "api") {
    version = segs[1];
    i = 2;
  } else if (segs.size() >= 4 && segs[0] == "apis") {
    group = segs[1];
    version = segs[2];
    i = 3;
  } else {
    return not_found();
  }
  std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
  Target t;
  // namespaces/<ns>/<plural>[/<name>[/status]] unless it is the Namespace object itself.
  if (rest.size() >= 3 && rest[0] == "namespaces" && rest[2] != "status" && rest[2] != "finalize") {
    t.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return not_found();
  t.rt = registry.find(group, version, rest[0]);
  if (!t.rt) {
    return core::fail(Code::kNotFound, "the server doesn't have a resource type \"" + rest[0] + "\" in " +
                                           (group.empty() ? version : group + "/" + version));
  }
  if (rest.size() >= 2) t.name = rest[1];
  if (rest.size() == 3) {
    if (rest[2] == "scale" && t.rt->scale) t.scale = true;
    else if (rest[2] == "status" && t.rt->has_status) t.status = true;
    else return not_found();
  }
  if (!t.rt->namespaced) t.ns.clear();
  if (t.rt->namespaced && !t.name.empty() && t.ns.empty()) return not_found();
  return t;
}

void ApiServer::Impl::handle(const httplib::Request& req, httplib::Response& res) {
  auto segs = split_path(req.path);
  if (req.method == "GET" && discovery(segs, res)) return;
  if (req.method == "GET" && segs.size() >= 2 && segs[0] == "openapi" && segs[1] == "v3") {
    if (segs.size() == 2) return send_json(res, 200, dump_json(openapi_v3_index(registry)));
    std::string gv = segs.size() == 4 && segs[2] == "api" ? segs[3]
                     : segs.size() == 5 && segs[2] == "apis" ? segs[3] + "/" + segs[4] : "";
    Json doc = gv.empty() ? Json() : openapi_v3_document(registry, gv);
    if (doc.is_null()) return send_error(res, core::Error(Code::kNotFound, "no OpenAPI document for " + req.path));
    return send_json(res, 200, dump_json(doc));
  }
  if (segs.size() >= 1 && segs[0] == "openapi") {
    return send_error(res, core::Error(Code::kNotFound, "only OpenAPI v3 is served (/openapi/v3)"));
  }
  auto target = resolve(segs);
  if (!target) return send_error(res, target.error());
  const Target& t = *target;
  // A request body as JSON: JSON as sent, or a protobuf object (kubectl's encoding of
  // the core kinds it creates) decoded; the answer is JSON either way.
  auto body_json = [&]() -> core::Result<Json> {
    if (req.body.empty()) return Json::object();
    if (is_protobuf(req)) {
      if (req.method != "POST" && req.method != "PUT") return core::fail(protobuf_refused());
      return decode_protobuf_object(req.body, *t.rt);
    }
    return core::parse_json(req.body);
  };
  if (t.scale) return handle_scale(req, res, t);
  if (req.method == "GET") {
    if (t.name.empty()) return handle_list(req, res, t);
    return handle_get(req, res, t);
  }
  if (req.method == "POST") {
    if (!t.name.empty()) return send_error(res, core::Error(Code::kBadRequest, "POST must address a collection"));
    if (t.rt->namespaced && t.ns.empty()) return send_error(res, core::Error(Code::kBadRequest, "a namespace is required"));
    auto body = body_json();
    if (!body) return send_error(res, body.error());
    std::string name = body->is_object() ? core::string_at(*body, "metadata.name") : "";
    auto r = resources.create(*t.rt, t.ns, std::move(*body));
    if (!r) return send_error(res, r.error(), name, t.rt);
    return send_object(req, res, t, *r, 201);
  }
  if (t.name.empty()) return send_error(res, core::Error(Code::kBadRequest, req.method + " must address one object"));
  if (req.method == "PUT") {
    auto body = body_json();
    if (!body) return send_error(res, body.error());
    auto r = resources.update(*t.rt, t.ns, t.name, std::move(*body), t.status);
    if (!r) return send_error(res, r.error(), t.name, t.rt);
    return send_object(req, res, t, *r, 200);
  }
  if (req.method == "PATCH") {
    auto pt = patch_type(req);
    if (!pt) return send_error(res, pt.error());
    auto r = resources.patch(*t.rt, t.ns, t.name, *pt, req.body, t.status);
    if (!r) return send_error(res, r.error(), t.name, t.rt);
    return send_object(req, res, t, *r, 200);
  }
  if (req.method == "DELETE") {
    auto body = body_json();
    if (!body) return send_error(res, body.error());
    auto r = resources.remove(*t.rt, t.ns, t.name, *body);
    if (!r) return send_error(res, r.error(), t.name, t.rt);
    return send_object(req, res, t, *r, 200);
  }
  send_error(res, core::Error(Code::kBadRequest, "unsupported method " + req.method));
}

void ApiServer::Impl::handle_scale(const httplib::Request& req, httplib::Response& res, const Target& t) {
  if (t.name.empty()) return send_error(res, core::Error(Code::kNotFound, "the server could not find the requested resource"));
  core::Result<Json> r = core::fail(Code::kBadRequest, "the scale subresource supports GET, PUT and PATCH, not " + req.method);
  if (req.method == "GET") {
    r = resources.get_scale(*t.rt, t.ns, t.name);
  } else if (req.method == "PUT") {
    if (is_protobuf(req)) return send_error(res, protobuf_refused());
    r = resources.update_scale(*t.rt, t.ns, t.name, std::nullopt, req.body);
  } else if (req.method == "PATCH") {
    auto pt = patch_type(req);
    if (!pt) return send_error(res, pt.error());
    r = resources.update_scale(*t.rt, t.ns, t.name, *pt, req.body);
  }
  if (!r) return send_error(res, r.error(), t.name, t.rt);
  send_json(res, 200, dump_json(*r));
}

void ApiServer::Impl::send_object(const httplib::Request& req, httplib::Response& res, const Target& t,
                                  const StoredObject& obj, int status) {
  if (wants_table(req)) {
    auto parsed = core::parse_json(*obj.data);
    send_json(res, status, dump_json(make_table(*t.rt, {*parsed}, std::to_string(obj.rev))));
    return;
  }
  send_json(res, status, *obj.data);
}

void ApiServer::Impl::handle_get(const httplib::Request& req, httplib::Response& res, const Target& t) {
  auto r = resources.get(*t.rt, t.ns, t.name);
  if (!r) return send_error(res, r.error(), t.name, t.rt);
  send_object(req, res, t, *r, 200);
}

void ApiServer::Impl::handle_list(const httplib::Request& req, httplib::Response& res, const Target& t) {
  auto ls = LabelSelector::parse(req.get_param_value("labelSelector"));
  if (!ls) return send_error(res, ls.error());
  auto fs = FieldSelector::parse(req.get_param_value("fieldSelector"));
  if (!fs) return send_error(res, fs.error());
  std::string watch = req.get_param_value("watch");
  if (watch == "1" || watch == "true") return handle_watch(req, res, t, *ls, *fs);
  auto r = resources.list(*t.rt, t.ns, *ls, *fs);
  if (!r) return send_error(res, r.error());
  std::string rv = std::to_string(r->revision);
  if (wants_table(req)) {
    std::vector<Json> objs;
    for (const auto& o : r->items) objs.push_back(*core::parse_json(*o.data));
    return send_json(res, 200, dump_json(make_table(*t.rt, objs, rv)));
  }
  std::string body = "{\"kind\":\"" + t.rt->kind + "List\",\"apiVersion\":\"" + t.rt->group_version() +
                     "\",\"metadata\":{\"resourceVersion\":\"" + rv + "\"},\"items\":[";
  bool first = true;
  for (const auto& o : r->items) {
    if (!first) body += ',';
    first = false;
    body += *o.data;
  }
  body += "]}";
  send_json(res, 200, body);
}

namespace {
// State of one watch stream, shared by the content provider and its releaser.
struct WatchState {
  std::shared_ptr<Watcher> watcher;
  std::vector<Event> initial;
  bool initial_sent = false;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::steady_clock::time_point last_write;
};
}  // namespace

void ApiServer::Impl::handle_watch(const httplib::Request& req, httplib::Response& res, const Target& t,
                                   const LabelSelector& ls, const FieldSelector& fs) {
  auto state = std::make_shared<WatchState>();
  std::string rv = req.get_param_value("resourceVersion");
  int64_t after = 0;
  if (rv.empty() || rv == "0") {
    // No starting point: the current objects first (as ADDED), then every change after them.
    auto list = resources.list(*t.rt, t.ns, LabelSelector(), FieldSelector());
    if (!list) return send_error(res, list.error());
    after = list->revision;
    for (auto& o : list->items) state->initial.push_back(Event{EventType::kAdded, "", std::move(o)});
  } else {
    try {
      size_t used = 0;
      after = std::stoll(rv, &used);
      if (used != rv.size() || after < 0) throw std::invalid_argument(rv);
    } catch (const std::exception&) {
      return send_error(res, core::Error(Code::kBadRequest, "invalid resourceVersion \"" + rv + "\""));
    }
  }
  std::string prefix = Resources::watch_prefix(*t.rt, t.ns);
  auto w = store.watch(prefix, after);
  if (!w) return send_error(res, w.error());
  state->watcher = *w;
  int timeout_s = 1800;
  if (req.has_param("timeoutSeconds")) {
    try {
      timeout_s = std::max(1, std::stoi(req.get_param_value("timeoutSeconds")));
    } catch (const std::exception&) {
      store.unwatch(state->watcher);
      return send_error(res, core::Error(Code::kBadRequest, "invalid timeoutSeconds"));
    }
  }
  auto now = std::chrono::steady_clock::now();
  state->deadline = now + std::chrono::seconds(timeout_s);
  state->last_write = now;
  bool table = wants_table(req);
  bool bookmarks = req.get_param_value("allowWatchBookmarks") == "true";
  const ResourceType* rt = t.rt;

  auto render = [rt, table, ls, fs](const Event& e, std::string& out) {
    if (!ls.matches(*e.object.labels)) return;
    std::string object;
    if (table || !fs.empty()) {
      auto parsed = core::parse_json(*e.object.data);
      if (!parsed || !fs.matches(*parsed)) return;
      object = table ? dump_json(make_table(*rt, {*parsed}, std::to_string(e.object.rev))) : *e.object.data;
    } else {
      object = *e.object.data;
    }
    out += "{\"type\":\"";
    out += event_type_name(e.type);
    out += "\",\"object\":";
    out += object;
    out += "}\n";
  };

  res.status = 200;
  res.set_chunked_content_provider(
      "application/json;stream=watch",
      [this, state, render, bookmarks, rt](size_t, httplib::DataSink& sink) {
        std::string out;
        if (!state->initial_sent) {
          state->initial_sent = true;
          for (const auto& e : state->initial) render(e, out);
          state->initial.clear();
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= state->deadline || stopping.load()) {
          sink.done();
          return true;
        }
        int64_t seen_rev = store.revision();
        std::vector<Event> events;
        bool open = state->watcher->next(events, std::chrono::milliseconds(1000));
        for (const auto& e : events) render(e, out);
        now = std::chrono::steady_clock::now();
        if (out.empty() && now - state->last_write > std::chrono::seconds(5)) {
          // Keeps the connection checked: a client that went away fails this write.
          if (bookmarks && events.empty()) {
            out = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"" + rt->kind + "\",\"apiVersion\":\"" +
                  rt->group_version() + "\",\"metadata\":{\"resourceVersion\":\"" + std::to_string(seen_rev) + "\"}}}\n";
          } else {
            out = "\n";
          }
        }
        if (!out.empty()) {
          if (!sink.write(out.data(), out.size())) return false;
          state->last_write = now;
        }
        if (!open) sink.done();
        return true;
      },
      [this, state](bool) { store.unwatch(state->watcher); });
}

ApiServer::ApiServer(Store& store, Options opts) : impl_(std::make_unique<Impl>(store, std::move(opts))) {
  impl_->install();
}

ApiServer::~ApiServer() { stop(); }

core::Result<int> ApiServer::bind() {
  if (!impl_->http.is_valid()) {
    return core::fail(Code::kInternal, "cannot load the TLS certificate " + impl_->opts.cert_path + " and key " +
                                           impl_->opts.key_path);
  }
  if (impl_->opts.port == 0) {
    impl_->port = impl_->http.bind_to_any_port(impl_->opts.host);
  } else {
    impl_->port = impl_->http.bind_to_port(impl_->opts.host, impl_->opts.port) ? impl_->opts.port : -1;
  }
  // Debian's httplib listens with a backlog of 5: many clients connecting at once would
  // wait for SYN retransmits (1 s). listen() again widens the queue.
  if (impl_->port > 0 && impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
  if (impl_->port <= 0) {
    return core::fail(Code::kUnavailable, "cannot listen on " + impl_->opts.host + ":" + std::to_string(impl_->opts.port) +
                                              " (is another server running?)");
  }
  return impl_->port;
}

void ApiServer::serve() { impl_->http.listen_after_bind(); }

void ApiServer::stop() {
  if (!impl_) return;
  impl_->stopping = true;  // open watches end within a second
  impl_->http.stop();
}

}  // namespace polarstack::apiserver
