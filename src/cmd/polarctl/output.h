// How polarctl shows things to a person: tables from the server's Table responses,
// YAML/JSON, and the describe view.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/json.h"

namespace polarstack::polarctl {

using core::Json;

// Prints a meta.k8s.io/v1 Table. `wide` includes priority>0 columns; `header` prints
// the column names; `ns_column` adds a NAMESPACE column first.
void print_table(std::ostream& out, const Json& table, bool wide, bool header, bool ns_column);
// Prints an object for `describe`: metadata, spec, status (conditions as a table), events.
void print_description(std::ostream& out, const Json& object, const Json& events);
// The operations list of `polarctl ops`: NAME CLUSTER TYPE PHASE PROGRESS ELAPSED AGE.
void print_operations(std::ostream& out, const std::vector<Json>& ops, bool header);
// Removes fields people do not need to read (managedFields, last-applied annotation).
Json for_display(Json object);

}  // namespace polarstack::polarctl
