#include "apiserver/selectors.h"

#include <algorithm>

namespace polarstack::apiserver {
namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> split_terms(const std::string& text) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : text) {
    if (c == '(') depth++;
    if (c == ')') depth--;
    if (c == ',' && depth == 0) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!trim(cur).empty()) out.push_back(trim(cur));
  return out;
}

bool valid_key(const std::string& k) {
  return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

}  // namespace

core::Result<LabelSelector> LabelSelector::parse(const std::string& text) {
  LabelSelector sel;
  for (const std::string& term : split_terms(text)) {
    if (term.empty()) continue;
    Req r;
    auto bad = [&](const std::string& why) {
      return core::fail(core::Code::kBadRequest, "invalid label selector \"" + text + "\": " + why);
    };
    size_t sp = term.find(' ');
    if (term[0] == '!') {
      r.key = trim(term.substr(1));
      r.op = Op::kNotExists;
    } else if (auto p = term.find("!="); p != std::string::npos) {
      r = {trim(term.substr(0, p)), Op::kNotEq, {trim(term.substr(p + 2))}};
    } else if (auto p2 = term.find("=="); p2 != std::string::npos) {
      r = {trim(term.substr(0, p2)), Op::kEq, {trim(term.substr(p2 + 2))}};
    } else if (auto p3 = term.find('='); p3 != std::string::npos) {
      r = {trim(term.substr(0, p3)), Op::kEq, {trim(term.substr(p3 + 1))}};
    } else if (sp != std::string::npos) {
      r.key = trim(term.substr(0, sp));
      std::string rest = trim(term.substr(sp));
      bool notin = rest.rfind("notin", 0) == 0;
      if (!notin && rest.rfind("in", 0) != 0) return bad("expected in or notin after \"" + r.key + "\"");
      rest = trim(rest.substr(notin ? 5 : 2));
      if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') return bad("expected a (list) of values");
      r.op = notin ? Op::kNotIn : Op::kIn;
      for (const auto& v : split_terms(rest.substr(1, rest.size() - 2))) r.values.push_back(v);
    } else {
      r.key = term;
      r.op = Op::kExists;
    }
    if (!valid_key(r.key)) return bad("invalid key \"" + r.key + "\"");
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& r : reqs_) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    bool in = has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    switch (r.op) {
      case Op::kEq: case Op::kIn: if (!in) return false; break;
      case Op::kNotEq: case Op::kNotIn: if (in) return false; break;
      case Op::kExists: if (!has) return false; break;
      case Op::kNotExists: if (has) return false; break;
    }
  }
  return true;
}

core::Result<FieldSelector> FieldSelector::parse(const std::string& text) {
  FieldSelector sel;
  for (const std::string& term : split_terms(text)) {
    if (term.empty()) continue;
    Req r;
    if (auto p = term.find("!="); p != std::string::npos) {
      r = {trim(term.substr(0, p)), false, trim(term.substr(p + 2))};
    } else if (auto p2 = term.find("=="); p2 != std::string::npos) {
      r = {trim(term.substr(0, p2)), true, trim(term.substr(p2 + 2))};
    } else if (auto p3 = term.find('='); p3 != std::string::npos) {
      r = {trim(term.substr(0, p3)), true, trim(term.substr(p3 + 1))};
    } else {
      return core::fail(core::Code::kBadRequest, "invalid field selector \"" + text + "\": expected path=value");
    }
    if (!valid_key(r.path)) return core::fail(core::Code::kBadRequest, "invalid field selector path \"" + r.path + "\"");
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

bool FieldSelector::matches(const core::Json& object) const {
  for (const auto& r : reqs_) {
    const core::Json* v = core::find_path(object, r.path);
    std::string s;
    if (v && v->is_string()) s = v->get<std::string>();
    else if (v && !v->is_null()) s = v->dump();
    if ((s == r.value) != r.equal) return false;
  }
  return true;
}

}  // namespace polarstack::apiserver
