// Label selectors (a=b, a!=b, a in (x,y), a notin (x), a, !a) and field selectors
// (path=value, path!=value over the object's JSON, e.g. metadata.name=demo,
// involvedObject.kind=PolarDBCluster), as in Kubernetes list and watch queries.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"

namespace polarstack::apiserver {

class LabelSelector {
 public:
  static core::Result<LabelSelector> parse(const std::string& text);
  bool empty() const { return reqs_.empty(); }
  bool matches(const std::map<std::string, std::string>& labels) const;

 private:
  enum class Op { kEq, kNotEq, kIn, kNotIn, kExists, kNotExists };
  struct Req {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Req> reqs_;
};

class FieldSelector {
 public:
  static core::Result<FieldSelector> parse(const std::string& text);
  bool empty() const { return reqs_.empty(); }
  bool matches(const core::Json& object) const;

 private:
  struct Req {
    std::string path;
    bool equal;
    std::string value;
  };
  std::vector<Req> reqs_;
};

}  // namespace polarstack::apiserver
