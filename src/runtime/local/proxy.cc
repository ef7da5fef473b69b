#include "runtime/local/proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "core/files.h"
#include "core/log.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "runtime/local/ports.h"
#include "runtime/local/redirect.h"

namespace polarstack::runtime::local {

Routes routes_from_status(const core::Json& cluster) {
  Routes r;
  const core::Json* instances = core::find_path(cluster, "status.instances");
  if (!instances || !instances->is_array()) return r;
  std::string current = core::string_at(cluster, "status.currentPrimary");
  for (const auto& i : *instances) {
    if (!i.value("ready", false) || i.value("port", 0) <= 0) continue;
    std::string role = i.value("role", ""), host = i.value("host", "");
    int port = i.value("port", 0);
    bool primary = role == "primary" && (current.empty() || i.value("name", "") == current);
    if (primary) r.primary_port = port;
    if (role == "replica") r.reader_ports.push_back(port);
    if ((primary || role == "replica") && !host.empty() && host != "127.0.0.1") r.hosts[port] = host;
  }
  return r;
}

namespace {
std::mutex routes_mu;
Routes routes;
std::atomic<unsigned> next_reader{0};

// The connections being relayed (under routes_mu), so that a change of routes can end
// those to a target that no longer serves their endpoint: a client of the read-write
// endpoint still connected to a primary that was replaced (a cut-off node leaves such a
// session hanging for as long as TCP keeps trying) gets its connection closed and
// reconnects to the new primary.
struct Relayed {
  int client, backend, port;
  bool read_write;
};
std::map<int, Relayed> relayed;  // by client fd

// Whether a connection to `port` still serves its endpoint under `r`. With no target at
// all (a status in between), existing connections are left alone.
bool serves(const Routes& r, int port, bool read_write) {
  if (read_write) return r.primary_port == 0 || port == r.primary_port;
  if (r.primary_port == 0 && r.reader_ports.empty()) return true;
  return port == r.primary_port || std::find(r.reader_ports.begin(), r.reader_ports.end(), port) != r.reader_ports.end();
}

void end_stale_relays(const Routes& r) {
  for (const auto& [fd, rel] : relayed) {
    if (serves(r, rel.port, rel.read_write)) continue;
    ::shutdown(rel.client, SHUT_RDWR);  // the relay's poll wakes up and it closes both
    ::shutdown(rel.backend, SHUT_RDWR);
  }
}

int listen_on(int port) {
  int fd = bind_loopback(port);
  if (fd >= 0 && ::listen(fd, 512) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Copies both ways until either side closes.
void relay(int client, int backend) {
  pollfd fds[2] = {{client, POLLIN, 0}, {backend, POLLIN, 0}};
  char buf[65536];
  while (::poll(fds, 2, -1) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) return;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(fds[1 - i].fd, buf + off, static_cast<size_t>(n - off));
        if (w <= 0) return;
        off += w;
      }
    }
  }
}

void serve(int listener, bool read_write) {
  while (true) {
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int port;
    std::string host;
    {
      std::lock_guard<std::mutex> lock(routes_mu);
      port = routes.primary_port;
      if (!read_write && !routes.reader_ports.empty()) {
        port = routes.reader_ports[next_reader++ % routes.reader_ports.size()];
      }
      host = routes.host_of(port);
    }
    std::thread([client, port, host, read_write] {
      int backend = port > 0 ? connect_to(host, port) : -1;
      if (backend >= 0) {
        {
          std::lock_guard<std::mutex> lock(routes_mu);
          if (serves(routes, port, read_write)) relayed[client] = {client, backend, port, read_write};
          else ::shutdown(client, SHUT_RDWR);  // the routes changed while it connected
        }
        relay(client, backend);
        {
          std::lock_guard<std::mutex> lock(routes_mu);
          relayed.erase(client);
        }
        ::close(backend);
      }
      ::close(client);
    }).detach();
  }
}
}  // namespace

int run_proxy(const std::string& dir) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  auto text = core::read_file(dir + "/proxy.json");
  auto cfg = text ? core::parse_json(*text) : core::Result<core::Json>(std::unexpected(text.error()));
  if (!cfg) {
    core::log_error("proxy", "cannot read " + dir + "/proxy.json: " + cfg.error().message);
    return 2;
  }
  int lock_fd = ::open((dir + "/proxy.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    core::log_error("proxy", "another proxy already serves " + dir);
    return 3;
  }
  std::string ns = cfg->value("namespace", "default"), name = cfg->value("cluster", "");
  int rw_port = cfg->value("readWritePort", 0), ro_port = cfg->value("readOnlyPort", 0);
  int rw = listen_on(rw_port), ro = listen_on(ro_port);
  if (rw < 0 || ro < 0) {
    core::log_error("proxy", "cannot listen on 127.0.0.1:" + std::to_string(rw < 0 ? rw_port : ro_port));
    return 4;
  }
  core::write_file_atomic(dir + "/proxy.pid", std::to_string(::getpid()) + "\n");
  std::string kubeconfig = cfg->value("kubeconfig", "");
  if (auto kc = kube::load_kubeconfig(kubeconfig); !kc) {
    core::log_error("proxy", kc.error().message);
    return 2;
  }
  // Kernel redirect when possible (see redirect.h), the relay otherwise.
  std::string mode = cfg->value("mode", "auto"), table = redirect_table(::getpid()), label = ns + "/" + name;
  std::string script = dir + "/redirect.nft";
  bool redirect = false;
  if (mode != "relay") {
    sweep_redirects();
    std::string why = "not root, or nft is not installed";
    if (redirect_possible()) {
      core::write_file_atomic(script, redirect_script(table, label, rw_port, ro_port, {}), 0600);
      auto st = apply_redirect(script);
      redirect = st.has_value();
      if (!st) why = st.error().message;
    }
    if (!redirect && mode == "redirect") {
      core::log_error("proxy", "endpoint mode redirect is not available: " + why);
      return 5;
    }
    if (!redirect) core::log_info("proxy", "relaying connections in user space (kernel redirect unavailable: " + why + ")");
  }
  auto publish = [&](const Routes& r) {
    core::Json ro_targets = core::Json::array();
    for (int p : r.reader_ports) ro_targets.push_back(p);
    core::Json state = {{"mode", redirect ? "redirect" : "relay"}, {"readWrite", r.primary_port}, {"readOnly", ro_targets}};
    if (redirect) state["table"] = "ip " + table;
    core::write_file_atomic(dir + "/routing.json", state.dump(1) + "\n", 0600);
  };
  publish({});
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    auto apply = [&](const core::Json& obj, bool deleted) {
      Routes r = deleted ? Routes{} : routes_from_status(obj);
      {
        std::lock_guard<std::mutex> lock(routes_mu);
        if (r == routes) return;
        routes = r;
        end_stale_relays(r);
      }
      std::string readers;
      auto target = [&](int p) { return (r.hosts.count(p) ? r.hosts.at(p) + ":" : "") + std::to_string(p); };
      for (int p : r.reader_ports) readers += (readers.empty() ? "" : ",") + target(p);
      core::log_info("proxy", "routes: read-write -> " + target(r.primary_port) + ", read-only -> [" + readers +
                                  "]" + (!redirect ? "" : r.hosts.empty() ? " (kernel redirect)" : " (kernel redirect for 127.0.0.1 targets, relay for the others)"));
      if (redirect) {
        core::write_file_atomic(script, redirect_script(table, label, rw_port, ro_port, r), 0600);
        // On failure the relay still routes: its listeners get what the rules no longer take.
        if (auto st = apply_redirect(script); !st) {
          core::log_warn("proxy", st.error().message + "; removing the redirect, relaying instead");
          (void)remove_redirect(table);
        }
      }
      publish(r);
    };
    kube::WatchHandlers h;
    h.on_sync = [&](const std::vector<core::Json>& items, const std::string&) {
      for (const auto& o : items) apply(o, false);
    };
    h.on_event = [&](const kube::WatchEvent& ev) { apply(ev.object, ev.type == "DELETED"); };
    // Until stopped: watch with the kubeconfig as it is; when the watch fails and the file
    // has changed (a server restarted on another port rewrote it), start over with it.
    while (!stop.load()) {
      std::string loaded = core::read_file(kubeconfig).value_or("");
      auto kc = kube::load_kubeconfig(kubeconfig);
      if (!kc) {
        std::this_thread::sleep_for(std::chrono::seconds(1));  // the file is being rewritten: look again
        continue;
      }
      kube::Client client(*kc);
      std::atomic<bool> again{false};  // ends this watch (the process exits on SIGTERM anyway)
      h.on_error = [&](const core::Error& e) {
        core::log_warn("proxy", "watch: " + e.message);
        if (core::read_file(kubeconfig).value_or("") != loaded) {
          core::log_info("proxy", "the kubeconfig changed: following it");
          again = true;
        }
      };
      kube::watch_with_relist(client, kube::clusters_ref(), ns, {"", "metadata.name=" + name}, h, again);
    }
  });
  std::thread(serve, rw, true).detach();
  std::thread(serve, ro, false).detach();
  core::log_info("proxy", "serving " + ns + "/" + name + ": read-write 127.0.0.1:" + std::to_string(rw_port) +
                              ", read-only 127.0.0.1:" + std::to_string(ro_port));
  int sig = 0;
  ::sigwait(&sigs, &sig);
  stop = true;
  ::shutdown(rw, SHUT_RDWR);
  ::shutdown(ro, SHUT_RDWR);
  if (redirect) (void)remove_redirect(table);
  ::unlink((dir + "/proxy.pid").c_str());
  core::log_info("proxy", "stopped");
  ::_exit(0);  // relays run on detached threads; the watcher may be inside a request
}

}  // namespace polarstack::runtime::local
