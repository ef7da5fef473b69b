#include "api/schema.h"

#include <regex>

namespace polarstack::api {

const char* const kDnsLabelPattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const char* const kQuantityPattern =
    "^([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$";

std::string quote_value(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string join_path(const std::string& base, const std::string& name) {
  return base.empty() ? name : base + "." + name;
}

void Decoder::check_string(const std::string& p, const std::string& s, const Rules& rules) {
  if (!rules.allowed.empty()) {
    bool ok = false;
    std::string list;
    for (const auto& a : rules.allowed) {
      ok = ok || a == s;
      list += (list.empty() ? "" : ", ") + ("\"" + a + "\"");
    }
    if (!ok) errs_.push_back({p, "must be one of " + list + ", got " + quote_value(s)});
  }
  if (rules.check) {
    std::string why = rules.check(s);
    if (!why.empty()) errs_.push_back({p, why});
  }
}

void Decoder::check_int(const std::string& p, int64_t n, const Rules& rules) {
  if (rules.min && rules.max && (n < *rules.min || n > *rules.max)) {
    errs_.push_back({p, "must be between " + std::to_string(*rules.min) + " and " + std::to_string(*rules.max) +
                            ", got " + std::to_string(n)});
  } else if (rules.min && n < *rules.min) {
    errs_.push_back({p, "must be at least " + std::to_string(*rules.min) + ", got " + std::to_string(n)});
  } else if (rules.max && n > *rules.max) {
    errs_.push_back({p, "must be at most " + std::to_string(*rules.max) + ", got " + std::to_string(n)});
  }
}

std::string check_dns_label(const std::string& s) {
  static const std::regex re(kDnsLabelPattern);
  if (s.empty()) return "must not be empty";
  if (s.size() > 63) return "must be no more than 63 characters, got " + std::to_string(s.size());
  if (!std::regex_match(s, re)) {
    return "must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter "
           "or digit), got " + quote_value(s);
  }
  return "";
}

std::string check_quantity(const std::string& s) {
  static const std::regex re(kQuantityPattern);
  if (!std::regex_match(s, re)) {
    return "must be a quantity such as 500m, 2, 512Mi or 10Gi, got " + quote_value(s);
  }
  return "";
}

}  // namespace polarstack::api
