#include "core/json.h"

namespace polarstack::core {

Result<Json> parse_json(std::string_view text) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return fail(Code::kBadRequest, std::string("invalid JSON: ") + e.what());
  } catch (const Json::exception& e) {  // e.g. out_of_range.406: a number beyond a double (found by tests/fuzz)
    return fail(Code::kBadRequest, std::string("invalid JSON: ") + e.what());
  }
}

const Json* find_path(const Json& root, std::string_view dotted) {
  const Json* cur = &root;
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    std::string part(dotted.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return cur;
}

std::string string_at(const Json& root, std::string_view dotted) {
  const Json* v = find_path(root, dotted);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace polarstack::core
