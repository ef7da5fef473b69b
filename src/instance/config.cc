#include "instance/config.h"

#include "core/files.h"

namespace polarstack::instance {

core::Json Config::to_json() const {
  core::Json j = {{"name", name}, {"cluster", cluster}, {"role", role}, {"port", port}, {"apiPort", api_port},
          {"primaryHost", primary_host}, {"primaryPort", primary_port}, {"slot", slot}, {"parameters", parameters}};
  if (host != "127.0.0.1") j["host"] = host;
  if (!peer_network.empty()) j["peerNetwork"] = peer_network;
  if (fenced) j["fenced"] = true;
  if (!fenced_lsn.empty()) j["fencedLsn"] = fenced_lsn;
  if (!sync_standbys.empty()) {
    j["syncStandbys"] = sync_standbys;
    j["syncK"] = sync_k;
  }
  if (term > 0) j["term"] = term;
  if (detached) j["detached"] = true;
  if (!engine.empty()) j["engine"] = engine;
  if (!bin_dir.empty()) j["binDir"] = bin_dir;
  if (!cpu.empty()) j["cpu"] = cpu;
  if (!memory.empty()) j["memory"] = memory;
  if (!cgroups.empty()) j["cgroups"] = cgroups;
  return j;
}

core::Result<Config> Config::from_json(const core::Json& j) {
  try {
    Config c;
    c.name = j.at("name").get<std::string>();
    c.cluster = j.value("cluster", "");
    c.role = j.at("role").get<std::string>();
    c.port = j.at("port").get<int>();
    c.api_port = j.at("apiPort").get<int>();
    c.host = j.value("host", "127.0.0.1");
    c.peer_network = j.value("peerNetwork", "");
    c.primary_host = j.value("primaryHost", "127.0.0.1");
    c.primary_port = j.value("primaryPort", 0);
    c.slot = j.value("slot", "");
    c.parameters = j.value("parameters", std::map<std::string, std::string>{});
    c.engine = j.value("engine", "");
    c.bin_dir = j.value("binDir", "");
    c.cpu = j.value("cpu", "");
    c.memory = j.value("memory", "");
    c.cgroups = j.value("cgroups", std::vector<std::string>{});
    c.fenced = j.value("fenced", false);
    c.fenced_lsn = j.value("fencedLsn", "");
    c.sync_standbys = j.value("syncStandbys", std::vector<std::string>{});
    c.sync_k = j.value("syncK", 0);
    c.term = j.value("term", uint64_t{0});
    c.detached = j.value("detached", false);
    auto ipv4ish = [](const std::string& v, bool cidr) { return !v.empty() && v.find_first_not_of(cidr ? "0123456789./" : "0123456789.") == std::string::npos; };
    if (!ipv4ish(c.host, false)) return core::fail(core::Code::kInvalid, "host: must be an IPv4 address, got \"" + c.host + "\"");
    if (!c.peer_network.empty() && !ipv4ish(c.peer_network, true)) {
      return core::fail(core::Code::kInvalid, "peerNetwork: must be an IPv4 network like 10.77.0.0/24, got \"" + c.peer_network + "\"");
    }
    if (c.role != "primary" && c.role != "replica") return core::fail(core::Code::kInvalid, "role: must be primary or replica");
    if (c.role == "replica" && (c.primary_port <= 0 || c.slot.empty())) {
      return core::fail(core::Code::kInvalid, "a replica needs primaryPort and slot");
    }
    return c;
  } catch (const std::exception& e) {
    return core::fail(core::Code::kInvalid, std::string("instance config: ") + e.what());
  }
}

core::Result<Config> load_config(const Paths& paths) {
  auto text = core::read_file(paths.config());
  if (!text) return std::unexpected(text.error());
  auto j = core::parse_json(*text);
  if (!j) return std::unexpected(j.error());
  return Config::from_json(*j);
}

core::Status save_config(const Paths& paths, const Config& cfg) {
  return core::write_file_atomic(paths.config(), cfg.to_json().dump(1) + "\n");
}

}  // namespace polarstack::instance
