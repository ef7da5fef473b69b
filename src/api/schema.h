// One source of truth for resource types. Each struct lists its fields once:
//
//   struct ReplicationSpec {
//     std::string mode = "async";
//     template <class V> void fields(V& v) {
//       v.field("mode", mode, Rules("How commits are replicated").one_of({"async", "sync"}));
//     }
//   };
//
// and visitors derived from that list decode JSON strictly (unknown fields are errors,
// absent fields keep the member's initializer, which is the default), validate each rule
// with the field's path, encode back to JSON, and write the OpenAPI v3 structural schema
// (defaults in the schema are read from a default-constructed struct). A struct may add
// cross-field checks with `void check(const std::string& path, FieldErrors& errs) const`.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/json.h"

namespace polarstack::api {

using core::Json;
using core::OrderedJson;
using FieldErrors = std::vector<core::FieldError>;

// A check of a string value: returns "" when fine, else the broken rule ("must be ...").
using StringCheck = std::function<std::string(const std::string&)>;

struct Rules {
  std::string doc;
  bool required = false;
  std::optional<int64_t> min, max;
  std::vector<std::string> allowed;  // enumeration for strings
  StringCheck check;                 // custom string rule
  std::string pattern;               // OpenAPI pattern documenting `check`, if any
  std::string format;                // OpenAPI format (e.g. "date-time")

  explicit Rules(std::string d = "") : doc(std::move(d)) {}
  Rules& require() { required = true; return *this; }
  Rules& range(int64_t lo, int64_t hi) { min = lo; max = hi; return *this; }
  Rules& at_least(int64_t lo) { min = lo; return *this; }
  Rules& one_of(std::vector<std::string> v) { allowed = std::move(v); return *this; }
  Rules& with(StringCheck c, std::string openapi_pattern = "") {
    check = std::move(c);
    pattern = std::move(openapi_pattern);
    return *this;
  }
  Rules& fmt(std::string f) { format = std::move(f); return *this; }
};

template <class T>
concept SchemaStruct = requires { T::kSchemaStruct; };

template <class T> struct IsVector : std::false_type {};
template <class T> struct IsVector<std::vector<T>> : std::true_type { using Elem = T; };
template <class T> struct IsMap : std::false_type {};
template <class T> struct IsMap<std::map<std::string, T>> : std::true_type { using Elem = T; };
template <class T> struct IsOptional : std::false_type {};
template <class T> struct IsOptional<std::optional<T>> : std::true_type { using Elem = T; };

std::string quote_value(const Json& v);  // a value as it appears in messages
std::string join_path(const std::string& base, const std::string& name);

// ---------------------------------------------------------------------------------------
// Decoder: JSON -> struct, strict, collecting every error with its path.
class Decoder {
 public:
  Decoder(const Json& obj, std::string path, FieldErrors& errs) : obj_(obj), path_(std::move(path)), errs_(errs) {}

  template <class T>
  void field(const char* name, T& member, const Rules& rules) {
    seen_.push_back(name);
    std::string p = join_path(path_, name);
    auto it = obj_.find(name);
    if (it == obj_.end() || it->is_null()) {
      if (rules.required) errs_.push_back({p, "required value"});
      return;
    }
    decode_value(*it, p, member, rules);
  }

  // Reports keys of the object that no field claimed.
  void finish() {
    if (!obj_.is_object()) return;
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      bool known = false;
      for (const char* s : seen_) known = known || it.key() == s;
      if (!known) errs_.push_back({join_path(path_, it.key()), "unknown field"});
    }
  }

  template <class T>
  static void decode_value(const Json& v, const std::string& p, T& out, const Rules& rules, FieldErrors& errs) {
    Decoder d(v, p, errs);
    d.decode_value(v, p, out, rules);
  }

 private:
  void type_error(const std::string& p, const char* want, const Json& v) {
    errs_.push_back({p, std::string("must be ") + want + ", got " + v.type_name() + " " + quote_value(v)});
  }
  void check_string(const std::string& p, const std::string& s, const Rules& rules);
  void check_int(const std::string& p, int64_t n, const Rules& rules);

  template <class T>
  void decode_value(const Json& v, const std::string& p, T& out, const Rules& rules) {
    if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) return type_error(p, "a string", v);
      out = v.get<std::string>();
      check_string(p, out, rules);
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) return type_error(p, "a boolean", v);
      out = v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) return type_error(p, "an integer", v);
      int64_t n = v.get<int64_t>();
      if (n < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          n > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        errs_.push_back({p, "is out of range, got " + v.dump()});
        return;
      }
      out = static_cast<T>(n);
      check_int(p, n, rules);
    } else if constexpr (std::is_same_v<T, Json>) {
      out = v;
    } else if constexpr (IsOptional<T>::value) {
      typename IsOptional<T>::Elem inner{};
      decode_value(v, p, inner, rules);
      out = std::move(inner);
    } else if constexpr (IsVector<T>::value) {
      if (!v.is_array()) return type_error(p, "a list", v);
      out.clear();
      Rules elem_rules;
      for (size_t i = 0; i < v.size(); ++i) {
        typename IsVector<T>::Elem e{};
        decode_value(v[i], p + "[" + std::to_string(i) + "]", e, elem_rules);
        out.push_back(std::move(e));
      }
    } else if constexpr (IsMap<T>::value) {
      if (!v.is_object()) return type_error(p, "an object", v);
      out.clear();
      for (auto it = v.begin(); it != v.end(); ++it) {
        typename IsMap<T>::Elem e{};
        decode_value(it.value(), p + "[" + it.key() + "]", e, Rules());
        if (rules.check) {
          std::string why = rules.check(it.key());
          if (!why.empty()) errs_.push_back({p + "[" + it.key() + "]", why});
        }
        out.emplace(it.key(), std::move(e));
      }
    } else if constexpr (SchemaStruct<T>) {
      if (!v.is_object()) return type_error(p, "an object", v);
      Decoder sub(v, p, errs_);
      out.fields(sub);
      sub.finish();
      if constexpr (requires(const T& t) { t.check(p, errs_); }) out.check(p, errs_);
    } else {
      static_assert(sizeof(T) == 0, "unsupported field type");
    }
  }

  const Json& obj_;
  std::string path_;
  FieldErrors& errs_;
  std::vector<const char*> seen_;
};

// ---------------------------------------------------------------------------------------
// Encoder: struct -> JSON. Empty strings, lists, maps and unset optionals are omitted.
class Encoder {
 public:
  explicit Encoder(Json& out) : out_(out) {}

  template <class T>
  void field(const char* name, const T& member, const Rules&) {
    if constexpr (std::is_same_v<T, std::string>) {
      if (member.empty()) return;
    } else if constexpr (IsVector<T>::value || IsMap<T>::value) {
      if (member.empty()) return;
    } else if constexpr (IsOptional<T>::value) {
      if (!member) return;
    } else if constexpr (std::is_same_v<T, Json>) {
      if (member.is_null()) return;
    }
    out_[name] = encode(member);
  }

  template <class T>
  static Json encode(const T& v) {
    if constexpr (IsOptional<T>::value) {
      return v ? encode(*v) : Json(nullptr);
    } else if constexpr (IsVector<T>::value) {
      Json arr = Json::array();
      for (const auto& e : v) arr.push_back(encode(e));
      return arr;
    } else if constexpr (IsMap<T>::value) {
      Json obj = Json::object();
      for (const auto& [k, e] : v) obj[k] = encode(e);
      return obj;
    } else if constexpr (SchemaStruct<T>) {
      Json obj = Json::object();
      Encoder enc(obj);
      const_cast<T&>(v).fields(enc);  // fields() only reads through this visitor
      return obj;
    } else {
      return Json(v);
    }
  }

 private:
  Json& out_;
};

// ---------------------------------------------------------------------------------------
// SchemaWriter: struct -> OpenAPI v3 structural schema.
class SchemaWriter {
 public:
  explicit SchemaWriter(OrderedJson& props, std::vector<std::string>& required)
      : props_(props), required_(required) {}

  template <class T>
  void field(const char* name, const T& member, const Rules& rules) {
    OrderedJson s = schema_of<T>(rules);
    if (!rules.doc.empty()) s["description"] = rules.doc;
    bool has_default = !rules.required && !IsOptional<T>::value && !std::is_same_v<T, Json> &&
                       !IsVector<T>::value && !IsMap<T>::value && !SchemaStruct<T>;
    if constexpr (std::is_same_v<T, std::string>) has_default = has_default && !member.empty();
    if (has_default) s["default"] = OrderedJson::parse(Encoder::encode(member).dump());
    props_[name] = std::move(s);
    if (rules.required) required_.push_back(name);
  }

  template <class T>
  static OrderedJson schema_of(const Rules& rules) {
    OrderedJson s;
    if constexpr (std::is_same_v<T, std::string>) {
      s["type"] = "string";
      if (!rules.allowed.empty()) s["enum"] = rules.allowed;
      if (!rules.pattern.empty()) s["pattern"] = rules.pattern;
      if (!rules.format.empty()) s["format"] = rules.format;
    } else if constexpr (std::is_same_v<T, bool>) {
      s["type"] = "boolean";
    } else if constexpr (std::is_integral_v<T>) {
      s["type"] = "integer";
      s["format"] = sizeof(T) == 8 ? "int64" : "int32";
      if (rules.min) s["minimum"] = *rules.min;
      if (rules.max) s["maximum"] = *rules.max;
    } else if constexpr (std::is_same_v<T, Json>) {
      s["type"] = "object";
      s["x-kubernetes-preserve-unknown-fields"] = true;
    } else if constexpr (IsOptional<T>::value) {
      return schema_of<typename IsOptional<T>::Elem>(rules);
    } else if constexpr (IsVector<T>::value) {
      s["type"] = "array";
      s["items"] = schema_of<typename IsVector<T>::Elem>(Rules());
    } else if constexpr (IsMap<T>::value) {
      s["type"] = "object";
      s["additionalProperties"] = schema_of<typename IsMap<T>::Elem>(Rules());
    } else if constexpr (SchemaStruct<T>) {
      return struct_schema<T>();
    }
    return s;
  }

  template <class T>
  static OrderedJson struct_schema() {
    OrderedJson s;
    s["type"] = "object";
    OrderedJson props = OrderedJson::object();
    std::vector<std::string> required;
    SchemaWriter w(props, required);
    T prototype{};
    prototype.fields(w);
    s["properties"] = std::move(props);
    if (!required.empty()) s["required"] = required;
    return s;
  }

 private:
  OrderedJson& props_;
  std::vector<std::string>& required_;
};

// Decodes `v` as T (strict, with defaults); on any problem returns every field error.
template <class T>
core::Result<T> decode(const Json& v, const std::string& path, const std::string& what) {
  FieldErrors errs;
  T out{};
  Decoder::decode_value(v, path, out, Rules(), errs);
  if (!errs.empty()) return core::fail(core::Error::invalid(what, std::move(errs)));
  return out;
}

template <class T>
Json encode(const T& v) { return Encoder::encode(v); }

// Common string rules.
std::string check_dns_label(const std::string& s);      // RFC 1123 label, <= 63
std::string check_quantity(const std::string& s);       // Kubernetes quantity: 500m, 2Gi, 10G, 1.5
extern const char* const kDnsLabelPattern;
extern const char* const kQuantityPattern;

}  // namespace polarstack::api
