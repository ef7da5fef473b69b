#include "core/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <regex>
#include <set>

namespace polarstack::core {
namespace {

std::string where(const YAML::Mark& m) {
  return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
}

// YAML 1.2 core schema resolution of a plain (unquoted) scalar.
Json resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt("^[-+]?[0-9]+$");
  static const std::regex kHex("^0x[0-9a-fA-F]+$");
  static const std::regex kFloat(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  try {
    if (std::regex_match(s, kInt)) return Json(std::stoll(s));
    if (std::regex_match(s, kHex)) return Json(std::stoll(s, nullptr, 16));
    if (std::regex_match(s, kFloat)) return Json(std::stod(s));
  } catch (const std::out_of_range&) {
    return s;  // too large for a number: keep the text
  }
  if (s == ".inf" || s == ".Inf" || s == "+.inf") return Json(INFINITY);
  return s;
}

Result<Json> to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return Json(node.Scalar());
      return resolve_plain(node.Scalar());
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : node) {
        auto v = to_json(item);
        if (!v) return v;
        arr.push_back(std::move(*v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return fail(Code::kBadRequest, where(kv.first.Mark()) + ": mapping keys must be scalars");
        }
        const std::string& key = kv.first.Scalar();
        if (obj.contains(key)) {
          return fail(Code::kBadRequest, where(kv.first.Mark()) + ": duplicate key \"" + key + "\"");
        }
        auto v = to_json(kv.second);
        if (!v) return v;
        obj[key] = std::move(*v);
      }
      return obj;
    }
  }
  return Json(nullptr);
}

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  Json resolved = resolve_plain(s);
  if (!resolved.is_string()) return true;
  // Leading/trailing spaces and indicator characters are handled by yaml-cpp itself.
  return false;
}

template <class J>
void emit(YAML::Emitter& out, const J& v) {
  if ((v.is_object() || v.is_array()) && v.empty()) {
    out << YAML::Flow << (v.is_object() ? YAML::BeginMap : YAML::BeginSeq) << (v.is_object() ? YAML::EndMap : YAML::EndSeq);
  } else if (v.is_object()) {
    out << YAML::BeginMap;
    for (auto it = v.begin(); it != v.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      emit(out, it.value());
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& item : v) emit(out, item);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    const auto& s = v.template get_ref<const std::string&>();
    if (needs_quotes(s)) out << YAML::DoubleQuoted;
    out << s;
  } else if (v.is_boolean()) {
    out << (v.template get<bool>() ? "true" : "false");
  } else if (v.is_number_integer()) {
    out << v.template get<int64_t>();
  } else if (v.is_number()) {
    out << v.template get<double>();
  } else {
    out << YAML::Null;
  }
}

template <class J>
std::string render(const J& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetMapFormat(YAML::Block);
  out.SetSeqFormat(YAML::Block);
  if ((value.is_object() || value.is_array()) && value.empty()) {
    return value.is_object() ? "{}\n" : "[]\n";
  }
  emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace

Result<std::vector<Json>> parse_yaml_documents(std::string_view text) {
  std::vector<Json> docs;
  try {
    for (const auto& node : YAML::LoadAll(std::string(text))) {
      auto v = to_json(node);
      if (!v) return std::unexpected(v.error());
      if (v->is_null()) continue;
      docs.push_back(std::move(*v));
    }
  } catch (const YAML::Exception& e) {
    return fail(Code::kBadRequest, "invalid YAML: " + where(e.mark) + ": " + e.msg);
  }
  return docs;
}

std::string to_yaml(const OrderedJson& value) { return render(value); }
std::string to_yaml(const Json& value) { return render(value); }

}  // namespace polarstack::core
