// Discovery documents (/api, /apis, /api/v1, /apis/<group>/<version>, /version) built
// from the Registry, in the legacy (non-aggregated) format every client understands.
#pragma once

#include <string>

#include "apiserver/registry.h"
#include "core/json.h"

namespace polarstack::apiserver {

core::Json api_versions(const std::string& server_address);
core::Json api_group_list(const Registry& reg);
core::Json api_group(const Registry& reg, const std::string& group);  // null if unknown
core::Json api_resource_list(const Registry& reg, const std::string& group_version);  // null if unknown
core::Json server_version();

}  // namespace polarstack::apiserver
