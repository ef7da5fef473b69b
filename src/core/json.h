// JSON is the wire and storage format of every resource. This header names the type and
// small helpers; parsing never throws across it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"

namespace polarstack::core {

using Json = nlohmann::json;
// Keeps keys in insertion order: used where output is read by people (YAML, schemas).
using OrderedJson = nlohmann::ordered_json;

Result<Json> parse_json(std::string_view text);

// The value at a dotted path ("metadata.name"), or nullptr when any part is missing.
const Json* find_path(const Json& root, std::string_view dotted);

// Reads a string at a dotted path; empty when missing or not a string.
std::string string_at(const Json& root, std::string_view dotted);

}  // namespace polarstack::core
