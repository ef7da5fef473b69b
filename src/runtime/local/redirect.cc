#include "runtime/local/redirect.h"

#include <unistd.h>

#include <cctype>
#include <chrono>

#include "core/log.h"
#include "core/process.h"

namespace polarstack::runtime::local {

namespace {
constexpr const char* kPrefix = "polarstack_ep_";
constexpr std::chrono::seconds kNftTimeout{10};

std::string port_target(const std::vector<int>& ports) {
  if (ports.size() == 1) return ":" + std::to_string(ports[0]);
  std::string map = ":numgen inc mod " + std::to_string(ports.size()) + " map { ";
  for (size_t i = 0; i < ports.size(); ++i) {
    map += (i ? ", " : "") + std::to_string(i) + " : " + std::to_string(ports[i]);
  }
  return map + " }";
}

core::Status nft(const std::vector<std::string>& args) {
  std::string bin = nft_path();
  if (bin.empty()) return core::fail(core::Code::kUnavailable, "nft is not installed");
  std::vector<std::string> argv{bin};
  argv.insert(argv.end(), args.begin(), args.end());
  return core::run_checked(argv, kNftTimeout, "nft " + args.front() + " failed");
}
}  // namespace

std::string redirect_table(pid_t proxy_pid) { return kPrefix + std::to_string(proxy_pid); }

pid_t redirect_table_pid(const std::string& table) {
  std::string prefix = kPrefix;
  if (table.rfind(prefix, 0) != 0) return -1;
  std::string digits = table.substr(prefix.size());
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return static_cast<pid_t>(std::stol(digits));
}

std::string redirect_script(const std::string& table, const std::string& label, int rw_port, int ro_port,
                            const Routes& routes) {
  // "add" then "delete" then define: one transaction that works whether or not it exists.
  std::string s = "add table ip " + table + "\ndelete table ip " + table + "\ntable ip " + table + " {\n" +
                  "  chain out {\n    type nat hook output priority -100; policy accept;\n";
  auto rule = [&](int port, const std::vector<int>& targets, const std::string& what) {
    if (port <= 0 || targets.empty()) return;
    // A target on a node of its own network is not this host's to redirect to: with no
    // rule, such connections reach the proxy's listener and are relayed.
    for (int t : targets) {
      if (routes.hosts.count(t)) return;
    }
    s += "    ip daddr 127.0.0.1 tcp dport " + std::to_string(port) + " redirect to " + port_target(targets) +
         " comment \"" + label + " " + what + "\"\n";
  };
  if (routes.primary_port > 0) rule(rw_port, {routes.primary_port}, "read-write");
  if (!routes.reader_ports.empty()) {
    rule(ro_port, routes.reader_ports, "read-only");
  } else if (routes.primary_port > 0) {
    rule(ro_port, {routes.primary_port}, "read-only");
  }
  return s + "  }\n}\n";
}

std::string nft_path() {
  for (const char* p : {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

bool redirect_possible() { return ::geteuid() == 0 && !nft_path().empty(); }

core::Status apply_redirect(const std::string& script_path) { return nft({"-f", script_path}); }

core::Status remove_redirect(const std::string& table) { return nft({"delete", "table", "ip", table}); }

std::vector<std::string> list_redirects() {
  std::vector<std::string> out;
  if (!redirect_possible()) return out;
  auto r = core::run({nft_path(), "list", "tables", "ip"}, kNftTimeout);
  if (!r || r->exit_code != 0) return out;
  size_t pos = 0;
  const std::string head = "table ip ";
  while ((pos = r->output.find(head, pos)) != std::string::npos) {
    pos += head.size();
    size_t end = r->output.find_first_of("\n ", pos);
    std::string name = r->output.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (redirect_table_pid(name) > 0) out.push_back(name);
  }
  return out;
}

int sweep_redirects() {
  int removed = 0;
  for (const auto& t : list_redirects()) {
    pid_t pid = redirect_table_pid(t);
    auto args = core::process_cmdline(pid);
    bool proxy = core::process_alive(pid) && args.size() > 1 && args[1] == "proxy";
    if (proxy) continue;
    if (auto st = remove_redirect(t); st) {
      ++removed;
      core::log_info("proxy", "removed the redirect table " + t + " of a proxy that is gone");
    }
  }
  return removed;
}

std::set<int> ports_in_redirect_listing(const std::string& listing) {
  std::set<int> out;
  // Adds the port right after each occurrence of `key` in `line`.
  auto collect = [&](const std::string& line, const std::string& key) {
    for (size_t p = line.find(key); p != std::string::npos; p = line.find(key, p + 1)) {
      size_t at = p + key.size(), end = at;
      while (end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]))) ++end;
      if (end == at || end - at > 5) continue;
      int n = std::stoi(line.substr(at, end - at));
      if (n > 0 && n < 65536) out.insert(n);
    }
  };
  size_t start = 0;
  while (start < listing.size()) {
    size_t nl = listing.find('\n', start);
    std::string line = listing.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? listing.size() : nl + 1;
    if (size_t comment = line.find(" comment "); comment != std::string::npos) line.resize(comment);  // labels hold no ports
    collect(line, "dport ");
    collect(line, "redirect to :");
    if (size_t map = line.find(" map {"); map != std::string::npos) collect(line.substr(map), " : ");
  }
  return out;
}

std::set<int> redirected_ports() {
  std::set<int> out;
  if (!redirect_possible()) return out;
  sweep_redirects();
  for (const auto& t : list_redirects()) {
    auto r = core::run({nft_path(), "list", "table", "ip", t}, kNftTimeout);
    if (!r || r->exit_code != 0) continue;
    auto ports = ports_in_redirect_listing(r->output);
    out.insert(ports.begin(), ports.end());
  }
  return out;
}

}  // namespace polarstack::runtime::local
