// Instance <-> JSON. The field names are those of PolarDBOperation's status (phase,
// reason, message, steps[{name, state, attempts, lastError, startedAt, finishedAt}],
// startedAt, finishedAt) plus the engine's own (workflow, context, nextRunAt,
// cancelling, compensation), so an operation's status is the instance itself.
#pragma once

#include "core/json.h"
#include "workflow/instance.h"

namespace polarstack::workflow {

core::Json to_json(const Instance& inst);
// `id` is not part of the JSON (it is the operation's name).
core::Result<Instance> from_json(const core::Json& j, const std::string& id);
std::string format_time(TimePoint t);  // RFC 3339 with milliseconds; "" for the epoch
TimePoint parse_time(const std::string& s);

}  // namespace polarstack::workflow
