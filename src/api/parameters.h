// The engine's parameter catalogue (PostgreSQL 15's pg_settings, generated into
// pg_settings_15.inc by scripts/gen-pg-settings.sh) and the rules spec.parameters obeys:
// a known name, a value PostgreSQL would take (parsed the way PostgreSQL's guc.c does:
// booleans, integers and reals with their units, enums), and not one polarstack manages.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace polarstack::api {

struct EngineParameter {
  std::string_view name, vartype, context, unit, min, max, enumvals, boot;
};

// nullptr if PostgreSQL has no such parameter.
const EngineParameter* engine_parameter(std::string_view name);
// How many the catalogue holds (for the test that compares it with the engine).
size_t engine_parameter_count();
const EngineParameter& engine_parameter_at(size_t i);

// Why `name = value` cannot be set in spec.parameters, in PostgreSQL's words where it
// has them ("invalid value for parameter \"work_mem\": \"10XB\" (valid units ...)");
// "" if it can.
std::string check_parameter(const std::string& name, const std::string& value);

// The value in the parameter's own unit (what pg_settings.setting shows: shared_buffers
// in 8kB pages, work_mem in kB), booleans as 0/1; nullopt for a string or enum
// parameter, or a value that does not parse.
std::optional<double> parameter_number(const std::string& name, const std::string& value);

// A postmaster-context parameter: it takes effect only at a restart. Every other one
// (sighup, superuser, user, backend) is applied by a reload.
bool parameter_needs_restart(const std::string& name);

// A parameter a hot standby must hold at least as high as its primary (or it stops
// replaying): raised on replicas first, lowered on the primary first.
bool standby_must_not_be_lower(const std::string& name);

// For a parameter changed from `from` to `to` ("": not set, the default): +1 if the
// value goes up, -1 if down, 0 if the same or not a number.
int parameter_direction(const std::string& name, const std::string& from, const std::string& to);

// The value PostgreSQL uses when the parameter is not set (pg_settings.boot_val).
std::string parameter_default(const std::string& name);

}  // namespace polarstack::api
