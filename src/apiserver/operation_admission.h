// Admission of PolarDBOperations beyond their own fields: the cluster and instances they
// name must exist, their target is immutable, and resume/cancel requests must make sense
// for the operation's phase. A rejected request changes nothing (422 with the field).
#pragma once

#include <string>

#include "apiserver/store.h"

namespace polarstack::apiserver {

core::Status check_operation_create(Store& store, const std::string& ns, const core::Json& op);
// `current` and `next` are whole objects; called for spec writes only.
core::Status check_operation_update(const core::Json& current, const core::Json& next);

}  // namespace polarstack::apiserver
