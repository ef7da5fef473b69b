// meta.k8s.io/v1 Table output (what `kubectl get` and `polarctl get` print): the Name
// column, then the kind's printer columns evaluated on each object.
#pragma once

#include <string>
#include <vector>

#include "apiserver/registry.h"
#include "core/json.h"

namespace polarstack::apiserver {

core::Json table_column_definitions(const ResourceType& rt);
core::Json table_row(const ResourceType& rt, const core::Json& object);
core::Json make_table(const ResourceType& rt, const std::vector<core::Json>& objects, const std::string& rv,
                      bool with_columns = true);

}  // namespace polarstack::apiserver
