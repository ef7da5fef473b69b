// The one error convention of polarstack: functions that can fail return Result<T>,
// an std::expected carrying a typed Error. Exceptions do not cross module boundaries.
#pragma once

#include <expected>
#include <string>
#include <vector>

namespace polarstack::core {

enum class Code {
  kOk = 0,
  kInvalid,        // bad input; `causes` lists each bad field
  kBadRequest,     // malformed request (not a field problem)
  kNotFound,
  kAlreadyExists,
  kConflict,       // stale resourceVersion or a precondition failed
  kGone,           // a watch asked for history that is no longer kept
  kUnauthorized,
  kForbidden,
  kUnsupported,    // e.g. an unsupported media type
  kUnavailable,    // a server or process cannot be reached
  kTimeout,
  kInternal,
};

// One problem with one field of an input, e.g. {"spec.readers", "must be between 0 and 15, got 99"}.
struct FieldError {
  std::string field;    // dotted path; empty when the problem is not tied to a field
  std::string message;  // the rule that was broken, and the value when useful
  std::string str() const { return field.empty() ? message : field + ": " + message; }
};

struct Error {
  Code code = Code::kInternal;
  std::string message;
  std::vector<FieldError> causes;  // for kInvalid

  Error() = default;
  Error(Code c, std::string m) : code(c), message(std::move(m)) {}
  static Error invalid(std::string what, std::vector<FieldError> causes);

  // The message followed by every cause, one per line.
  std::string describe() const;
};

const char* code_name(Code code);

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(Code c, std::string message) {
  return std::unexpected<Error>(Error(c, std::move(message)));
}
inline std::unexpected<Error> fail(Error e) { return std::unexpected<Error>(std::move(e)); }

}  // namespace polarstack::core
