// YAML <-> JSON. Users write YAML; everything inside is JSON.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace polarstack::core {

// Parses a stream of YAML documents ("---" separated) into JSON values. Scalars keep
// their YAML type (plain 3 is a number, "3" a string, true a bool, ~ null). Errors carry
// the line and column, 1-based: "line 4, column 3: ...". Empty documents are skipped.
Result<std::vector<Json>> parse_yaml_documents(std::string_view text);

// Renders JSON as block-style YAML with keys in the value's own order.
std::string to_yaml(const OrderedJson& value);
std::string to_yaml(const Json& value);

}  // namespace polarstack::core
