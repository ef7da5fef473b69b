#include "cmd/polarctl/wait_spec.h"

#include <algorithm>
#include <cctype>

namespace polarstack::polarctl {

using core::Code;
using core::Json;

namespace {
bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string scalar_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}
}  // namespace

core::Result<WaitSpec> parse_wait_for(const std::string& text) {
  WaitSpec s;
  const std::string usage = "; use condition=NAME[=true|false], delete or jsonpath={.path}=VALUE";
  if (text == "delete") {
    s.kind = WaitSpec::kDelete;
    return s;
  }
  if (text.rfind("condition=", 0) == 0) {
    std::string rest = text.substr(10);
    auto eq = rest.find('=');
    s.condition = rest.substr(0, eq);
    if (eq != std::string::npos) s.value = rest.substr(eq + 1);
    if (s.condition.empty()) return core::fail(Code::kInvalid, "--for: condition=... needs a condition name" + usage);
    if (!iequals(s.value, "true") && !iequals(s.value, "false") && !iequals(s.value, "unknown")) {
      return core::fail(Code::kInvalid, "--for: a condition's status is True, False or Unknown, not \"" + s.value + "\"");
    }
    return s;
  }
  if (text.rfind("jsonpath=", 0) == 0) {
    std::string rest = text.substr(9);
    if (rest.size() < 3 || rest[0] != '{' || rest[1] != '.') {
      return core::fail(Code::kInvalid, "--for: jsonpath must look like {.status.phase}=Running, got \"" + rest + "\"");
    }
    auto close = rest.find('}');
    if (close == std::string::npos) return core::fail(Code::kInvalid, "--for: jsonpath has no closing }");
    s.kind = WaitSpec::kJsonPath;
    s.path = rest.substr(2, close - 2);
    s.value.clear();
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != '=') return core::fail(Code::kInvalid, "--for: expected = after the jsonpath" + usage);
      s.value = rest.substr(close + 2);
    }
    if (s.path.empty() || s.path.find_first_of("[]*?@ ") != std::string::npos) {
      return core::fail(Code::kInvalid, "--for: only dotted jsonpaths are supported ({.status.phase}), got \"{." + s.path + "}\"");
    }
    return s;
  }
  return core::fail(Code::kInvalid, "--for: unknown condition \"" + text + "\"" + usage);
}

core::Result<std::chrono::milliseconds> parse_duration(const std::string& text) {
  auto bad = [&] {
    return core::fail(Code::kInvalid, "\"" + text + "\" is not a duration (examples: 30s, 5m, 1h30m, 500ms)");
  };
  if (text.empty()) return bad();
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (text.size() > 9) return bad();
    return std::chrono::milliseconds(std::stoll(text) * 1000);
  }
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start || i - start > 9) return bad();
    int64_t n = std::stoll(text.substr(start, i - start));
    std::string unit;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) unit += text[i++];
    if (unit == "ms") total += n;
    else if (unit == "s") total += n * 1000;
    else if (unit == "m") total += n * 60'000;
    else if (unit == "h") total += n * 3'600'000;
    else return bad();
  }
  return std::chrono::milliseconds(total);
}

bool wait_met(const WaitSpec& spec, const Json& object) {
  switch (spec.kind) {
    case WaitSpec::kDelete:
      return false;
    case WaitSpec::kJsonPath: {
      const Json* v = core::find_path(object, spec.path);
      if (!v) return false;
      return spec.value.empty() || scalar_text(*v) == spec.value;
    }
    case WaitSpec::kCondition: {
      const Json* conds = core::find_path(object, "status.conditions");
      if (!conds || !conds->is_array()) return false;
      const Json* gen = core::find_path(object, "metadata.generation");
      for (const auto& c : *conds) {
        if (!c.is_object() || !iequals(c.value("type", ""), spec.condition)) continue;
        if (!iequals(c.value("status", ""), spec.value)) return false;
        if (gen && gen->is_number_integer()) {
          const Json* og = c.contains("observedGeneration") ? &c["observedGeneration"]
                                                            : core::find_path(object, "status.observedGeneration");
          if (og && og->is_number_integer() && og->get<int64_t>() < gen->get<int64_t>()) return false;
        }
        return true;
      }
      return false;
    }
  }
  return false;
}

std::string lower_kind(const kube::ResourceRef& ref) {
  std::string k = ref.kind;
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
  return k + (ref.group.empty() ? "" : "." + ref.group);
}

}  // namespace polarstack::polarctl
