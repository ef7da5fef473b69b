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
// OpenAPI v3: the index of group/versions, and one group/version's document with a
// schema per kind (ours in full, from src/api; core kinds as free-form objects) tagged
// with x-kubernetes-group-version-kind, as kubectl's validation and explain look them up.
core::Json openapi_v3_index(const Registry& reg);
core::Json openapi_v3_document(const Registry& reg, const std::string& group_version);  // null if unknown

}  // namespace polarstack::apiserver
