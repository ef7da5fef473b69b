#include "core/error.h"

namespace polarstack::core {

Error Error::invalid(std::string what, std::vector<FieldError> causes) {
  Error e(Code::kInvalid, std::move(what));
  e.causes = std::move(causes);
  return e;
}

std::string Error::describe() const {
  std::string out = message;
  for (const auto& c : causes) out += "\n  - " + c.str();
  return out;
}

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "Ok";
    case Code::kInvalid: return "Invalid";
    case Code::kBadRequest: return "BadRequest";
    case Code::kNotFound: return "NotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kConflict: return "Conflict";
    case Code::kGone: return "Gone";
    case Code::kUnauthorized: return "Unauthorized";
    case Code::kForbidden: return "Forbidden";
    case Code::kUnsupported: return "UnsupportedMediaType";
    case Code::kUnavailable: return "ServiceUnavailable";
    case Code::kTimeout: return "Timeout";
    case Code::kInternal: return "InternalError";
  }
  return "Unknown";
}

}  // namespace polarstack::core
