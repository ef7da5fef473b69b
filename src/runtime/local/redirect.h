// Endpoints by kernel redirect (local mode, as root with nftables): the endpoints proxy
// keeps an nftables table of its own, `ip polarstack_ep_<proxy pid>`, whose nat output
// rules send connections to 127.0.0.1:<read-write port> straight to the primary's port
// and to 127.0.0.1:<read-only port> to the readers, round robin. Traffic then never passes
// through a user-space relay (the relay costs ~26 us per round trip on two cores). The
// proxy's listeners stay open: with no rule for an endpoint (no ready target, or nftables
// unusable) connections reach the relay, which routes or refuses them as before.
// A table outlives a proxy killed with -9; sweep_redirects() deletes tables whose proxy
// is gone, and the runtime calls it when it opens (server start), wherever endpoints
// start or stop, and before it hands out ports.
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/local/proxy.h"

namespace polarstack::runtime::local {

// "polarstack_ep_<pid>".
std::string redirect_table(pid_t proxy_pid);
// The proxy pid a table name encodes, or -1 if it is not one of ours.
pid_t redirect_table_pid(const std::string& table);

// The nft script that atomically replaces `table` with the rules for these routes.
// `label` (e.g. "default/c1") goes into rule comments; it must be a DNS-1123 name path.
std::string redirect_script(const std::string& table, const std::string& label, int rw_port, int ro_port,
                            const Routes& routes);

// The nft binary ("" if not installed).
std::string nft_path();
// Root and nft present: redirects can be tried.
bool redirect_possible();
// Runs `nft -f script_path`.
core::Status apply_redirect(const std::string& script_path);
core::Status remove_redirect(const std::string& table);
// The polarstack_ep_* tables present (empty without nft or when not root).
std::vector<std::string> list_redirects();
// Deletes the tables of proxies that are no longer running; returns how many.
int sweep_redirects();
// Every port named in the rules of `nft list table` output: endpoint ports (dport) and
// targets (redirect to :P, and each port of a numgen map). Pure; table-tested.
std::set<int> ports_in_redirect_listing(const std::string& listing);
// The ports named by the polarstack tables present now, after sweeping the dead ones. A
// port redirected by any rule is not safe to hand out: connections to it would go
// elsewhere (the port allocator skips these).
std::set<int> redirected_ports();

}  // namespace polarstack::runtime::local
