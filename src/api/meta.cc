#include "api/meta.h"

namespace polarstack::api {

void check_metadata(const Json& metadata, size_t max_name, FieldErrors& errs) {
  if (!metadata.is_object()) {
    errs.push_back({"metadata", "must be an object"});
    return;
  }
  auto name = metadata.find("name");
  if (name == metadata.end() || !name->is_string() || name->get<std::string>().empty()) {
    if (!metadata.contains("generateName")) errs.push_back({"metadata.name", "required value"});
  } else {
    std::string n = name->get<std::string>();
    std::string why = check_dns_label(n);
    if (why.empty() && n.size() > max_name) {
      why = "must be no more than " + std::to_string(max_name) +
            " characters (instance names are derived from it), got " + std::to_string(n.size());
    }
    if (!why.empty()) errs.push_back({"metadata.name", why});
  }
  for (const char* m : {"labels", "annotations"}) {
    auto it = metadata.find(m);
    if (it == metadata.end() || it->is_null()) continue;
    if (!it->is_object()) {
      errs.push_back({std::string("metadata.") + m, "must be an object of strings"});
      continue;
    }
    for (auto kv = it->begin(); kv != it->end(); ++kv) {
      if (!kv->is_string()) {
        errs.push_back({std::string("metadata.") + m + "[" + kv.key() + "]", "must be a string, got " + quote_value(*kv)});
      }
    }
  }
}

}  // namespace polarstack::api
