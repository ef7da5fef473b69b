#include "api/parameters.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <span>

namespace polarstack::api {

namespace {
const EngineParameter kCatalogue[] = {
#include "api/pg_settings_15.inc"
};

// Parameters polarstack sets itself: replication, HA, fencing and endpoints depend on them.
const std::map<std::string_view, std::string_view> kManaged = {
    {"port", "the port is allocated by polarstack"},
    {"listen_addresses", "instances listen on their node's address only"},
    {"unix_socket_directories", "the instance manager connects through its own socket directory"},
    {"data_directory", "the data directory is the instance's"},
    {"config_file", "the configuration files are written by the instance manager"},
    {"hba_file", "client authentication is written by the instance manager"},
    {"ident_file", "client authentication is written by the instance manager"},
    {"external_pid_file", "the instance manager tracks the postmaster itself"},
    {"cluster_name", "it names the instance"},
    {"logging_collector", "the instance manager reads PostgreSQL's log from its standard error"},
    {"primary_conninfo", "replication is set up by polarstack"},
    {"primary_slot_name", "replication is set up by polarstack"},
    {"synchronous_standby_names", "set from spec.replication"},
    {"wal_level", "replication needs replica"},
    {"hot_standby", "readers serve queries"},
    {"hot_standby_feedback", "readers' queries rely on it"},
    {"wal_log_hints", "a former primary is rejoined with pg_rewind"},
    {"restore_command", "recovery is run by polarstack"},
    {"archive_cleanup_command", "recovery is run by polarstack"},
    {"recovery_end_command", "recovery is run by polarstack"},
    {"promote_trigger_file", "promotions are done by polarstack"},
    {"recovery_target", "recovery is run by polarstack"},
    {"recovery_target_action", "recovery is run by polarstack"},
    {"recovery_target_inclusive", "recovery is run by polarstack"},
    {"recovery_target_lsn", "recovery is run by polarstack"},
    {"recovery_target_name", "recovery is run by polarstack"},
    {"recovery_target_time", "recovery is run by polarstack"},
    {"recovery_target_timeline", "recovery is run by polarstack"},
    {"recovery_target_xid", "recovery is run by polarstack"},
    {"archive_mode", "WAL archiving comes with backups in a later release"},
    {"archive_command", "WAL archiving comes with backups in a later release"},
    {"archive_library", "WAL archiving comes with backups in a later release"},
    {"wal_receiver_status_interval", "a primary's lease is renewed by its replicas' replies"},
    {"wal_receiver_timeout", "a primary's lease is renewed by its replicas' replies"},
    {"wal_retrieve_retry_interval", "promotions and rejoins wait on it"},
};

// polarstack's own defaults where they differ from PostgreSQL's (instance/postgres.cc).
const std::map<std::string_view, std::string_view> kOurDefaults = {
    {"max_wal_senders", "20"}, {"max_replication_slots", "20"}};

const std::set<std::string_view> kStandbyNotLower = {"max_connections", "max_worker_processes", "max_wal_senders",
                                                     "max_prepared_transactions", "max_locks_per_transaction"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// guc.c's parse_bool: on, off, true, false, yes, no, 1, 0 and unique prefixes of them.
std::optional<bool> parse_bool(const std::string& v) {
  std::string s = lower(v);
  auto prefix_of = [&](const char* word, size_t min) { return s.size() >= min && std::string_view(word).substr(0, s.size()) == s; };
  if (prefix_of("true", 1) || prefix_of("yes", 1) || s == "1" || prefix_of("on", 2)) return true;
  if (prefix_of("false", 1) || prefix_of("no", 1) || s == "0" || prefix_of("off", 2)) return false;
  return std::nullopt;
}

struct Unit {
  const char* name;
  double in_kb_or_ms;  // memory: kB; time: ms
};
const Unit kMemoryUnits[] = {{"B", 1.0 / 1024}, {"kB", 1}, {"MB", 1024}, {"GB", 1024.0 * 1024}, {"TB", 1024.0 * 1024 * 1024}};
const Unit kTimeUnits[] = {{"us", 0.001}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};

// The parameter's base unit in kB or ms; 0 if it has none.
double base_of(std::string_view unit, bool* memory) {
  *memory = false;
  if (unit.empty()) return 0;
  if (unit == "B") return *memory = true, 1.0 / 1024;
  if (unit == "kB") return *memory = true, 1;
  if (unit == "8kB") return *memory = true, 8;
  if (unit == "MB") return *memory = true, 1024;
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "min") return 60000;
  return 0;
}

// A number with an optional unit, converted to the parameter's base unit (guc.c's
// parse_int / parse_real). Sets `why` on failure.
std::optional<double> parse_number(const EngineParameter& p, const std::string& value, std::string* why) {
  const std::string quoted = "invalid value for parameter \"" + std::string(p.name) + "\": \"" + value + "\"";
  const char* s = value.c_str();
  char* end = nullptr;
  errno = 0;
  double v;
  if (p.vartype == "integer") {
    long long i = std::strtoll(s, &end, 0);  // 0x.., 0.. like PostgreSQL
    v = static_cast<double>(i);
    if (end != s && (*end == '.' || *end == 'e' || *end == 'E')) v = std::strtod(s, &end);  // "1.5GB"
  } else {
    v = std::strtod(s, &end);
  }
  if (end == s || errno == ERANGE || std::isnan(v)) return *why = quoted, std::nullopt;
  while (*end == ' ' || *end == '\t') ++end;
  bool memory = false;
  double base = base_of(p.unit, &memory);
  if (*end) {
    std::string unit = end;
    while (!unit.empty() && (unit.back() == ' ' || unit.back() == '\t')) unit.pop_back();
    if (base == 0) return *why = quoted + " (this parameter takes no unit)", std::nullopt;
    const Unit* found = nullptr;
    for (const Unit& u : memory ? std::span<const Unit>(kMemoryUnits) : std::span<const Unit>(kTimeUnits)) {
      if (unit == u.name) found = &u;
    }
    if (!found) {
      return *why = quoted + (memory ? " (valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\")"
                                     : " (valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\")"),
             std::nullopt;
    }
    v = v * found->in_kb_or_ms / base;
  }
  if (p.vartype == "integer") {
    v = std::rint(v);
    if (v > 2147483647.0 || v < -2147483648.0) {
      return *why = quoted + " (value is out of range for an integer)", std::nullopt;
    }
  }
  return v;
}

std::string number_text(double v, bool integer) {
  if (integer) return std::to_string(static_cast<long long>(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

const EngineParameter* engine_parameter(std::string_view name) {
  // pg_settings is ordered by name (C collation for these): binary search.
  auto it = std::lower_bound(std::begin(kCatalogue), std::end(kCatalogue), name,
                             [](const EngineParameter& p, std::string_view n) { return p.name < n; });
  if (it != std::end(kCatalogue) && it->name == name) return &*it;
  // A few are spelled in mixed case (DateStyle, TimeZone); PostgreSQL's names are case-insensitive.
  for (const auto& p : kCatalogue) {
    if (lower(p.name) == lower(name)) return &p;
  }
  return nullptr;
}

size_t engine_parameter_count() { return std::size(kCatalogue); }
const EngineParameter& engine_parameter_at(size_t i) { return kCatalogue[i]; }

std::string check_parameter(const std::string& name, const std::string& value) {
  static const std::regex custom("^[a-z_][a-z0-9_]*\\.[a-z_][a-z0-9_]*$");
  if (auto m = kManaged.find(name); m != kManaged.end()) {
    return "is managed by polarstack and cannot be set (" + std::string(m->second) + ")";
  }
  if (value.find_first_of(std::string("\n\r\0", 3)) != std::string::npos) return "must not contain a line break or NUL";
  const EngineParameter* p = engine_parameter(name);
  if (!p) {
    // An extension's parameter (a placeholder until the extension loads): any value.
    if (std::regex_match(name, custom)) return "";
    return "unrecognized configuration parameter \"" + name + "\" (PostgreSQL 15 has no such parameter)";
  }
  if (p->context == "internal") {
    return "parameter \"" + name + "\" cannot be changed (it is fixed when PostgreSQL is built or initialized)";
  }
  if (p->vartype == "bool") {
    if (!parse_bool(value)) return "parameter \"" + name + "\" requires a Boolean value, got \"" + value + "\"";
    return "";
  }
  if (p->vartype == "enum") {
    std::string want = lower(value), list;
    std::string_view rest = p->enumvals;
    while (!rest.empty()) {
      size_t bar = rest.find('|');
      std::string_view one = rest.substr(0, bar);
      if (lower(one) == want) return "";
      list += (list.empty() ? "" : ", ") + std::string(one);
      rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
    }
    return "invalid value for parameter \"" + name + "\": \"" + value + "\" (available values: " + list + ")";
  }
  if (p->vartype == "integer" || p->vartype == "real") {
    std::string why;
    auto v = parse_number(*p, value, &why);
    if (!v) return why;
    double lo = std::strtod(std::string(p->min).c_str(), nullptr), hi = std::strtod(std::string(p->max).c_str(), nullptr);
    if (*v < lo || *v > hi) {
      bool integer = p->vartype == "integer";
      std::string unit = p->unit.empty() ? "" : " " + std::string(p->unit);
      return number_text(*v, integer) + unit + " is outside the valid range for parameter \"" + name + "\" (" +
             number_text(lo, integer) + " .. " + number_text(hi, integer) + ")";
    }
    return "";
  }
  return "";  // string: PostgreSQL checks some at start (a failed start is rolled back)
}

std::optional<double> parameter_number(const std::string& name, const std::string& value) {
  const EngineParameter* p = engine_parameter(name);
  if (!p) return std::nullopt;
  if (p->vartype == "bool") {
    auto b = parse_bool(value);
    return b ? std::optional<double>(*b ? 1 : 0) : std::nullopt;
  }
  if (p->vartype != "integer" && p->vartype != "real") return std::nullopt;
  std::string why;
  return parse_number(*p, value, &why);
}

bool parameter_needs_restart(const std::string& name) {
  const EngineParameter* p = engine_parameter(name);
  return p && p->context == "postmaster";
}

bool standby_must_not_be_lower(const std::string& name) { return kStandbyNotLower.count(name) > 0; }

std::string parameter_default(const std::string& name) {
  if (auto o = kOurDefaults.find(name); o != kOurDefaults.end()) return std::string(o->second);
  const EngineParameter* p = engine_parameter(name);
  return p ? std::string(p->boot) : "";
}

}  // namespace polarstack::api

namespace polarstack::api {
int parameter_direction(const std::string& name, const std::string& from, const std::string& to) {
  auto a = parameter_number(name, from.empty() ? parameter_default(name) : from);
  auto b = parameter_number(name, to.empty() ? parameter_default(name) : to);
  if (!a || !b || *a == *b) return 0;
  return *b > *a ? 1 : -1;
}
}  // namespace polarstack::api
