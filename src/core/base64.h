// Standard base64 (RFC 4648, with padding), as kubeconfig *-data fields and Secrets use.
#pragma once

#include <string>

#include "core/error.h"

namespace polarstack::core {

std::string base64_encode(const std::string& data);
// Whitespace is ignored; anything else that is not base64 is an error.
Result<std::string> base64_decode(const std::string& text);

}  // namespace polarstack::core
