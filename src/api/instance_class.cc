#include "api/instance_class.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>

namespace polarstack::api {

namespace {
std::optional<std::pair<double, std::string>> split_quantity(const std::string& q) {
  static const std::regex re("^([0-9]+(\\.[0-9]+)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$");
  std::smatch m;
  if (!std::regex_match(q, m, re)) return std::nullopt;
  return std::pair{std::strtod(m[1].str().c_str(), nullptr), m[3].str()};
}
double multiplier(const std::string& suffix) {
  static const std::pair<const char*, double> table[] = {
      {"", 1}, {"m", 0.001}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
      {"Ki", 1024.0}, {"Mi", 1024.0 * 1024}, {"Gi", 1024.0 * 1024 * 1024}, {"Ti", 1024.0 * 1024 * 1024 * 1024},
      {"Pi", 1024.0 * 1024 * 1024 * 1024 * 1024}, {"Ei", 1024.0 * 1024 * 1024 * 1024 * 1024 * 1024}};
  for (const auto& [s, f] : table) {
    if (suffix == s) return f;
  }
  return 0;
}
std::string kb(int64_t bytes) { return std::to_string(std::max<int64_t>(bytes / 1024, 64)) + "kB"; }
}  // namespace

std::optional<int64_t> cpu_millis(const std::string& quantity) {
  auto q = split_quantity(quantity);
  if (!q) return std::nullopt;
  return static_cast<int64_t>(std::llround(q->first * multiplier(q->second) * 1000));
}

std::optional<int64_t> memory_bytes(const std::string& quantity) {
  auto q = split_quantity(quantity);
  if (!q || q->second == "m") return std::nullopt;
  return static_cast<int64_t>(std::llround(q->first * multiplier(q->second)));
}

std::optional<InstanceClass> parse_class(const std::string& text, std::string* why) {
  InstanceClass c;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find_first_of(" ,\n", at);
    std::string item = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? text.size() : end + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string k = item.substr(0, eq), v = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (k == "cpu" && cpu_millis(v)) c.cpu = v;
    else if (k == "memory" && memory_bytes(v)) c.memory = v;
    else {
      *why = "\"" + item + "\" is not cpu=<quantity> or memory=<quantity>";
      return std::nullopt;
    }
  }
  if (c.cpu.empty() || c.memory.empty()) {
    *why = "a class needs both cpu=<quantity> and memory=<quantity>, got \"" + text + "\"";
    return std::nullopt;
  }
  return c;
}

std::map<std::string, std::string> default_classes() {
  return {{"polar.pg.x1.small", "cpu=1 memory=1Gi"}, {"polar.pg.x2.medium", "cpu=2 memory=4Gi"},
          {"polar.pg.x4.large", "cpu=4 memory=8Gi"}, {"polar.pg.x8.xlarge", "cpu=8 memory=16Gi"}};
}

std::map<std::string, std::string> effective_parameters(const std::map<std::string, std::string>& user,
                                                        std::optional<int64_t> memory) {
  std::map<std::string, std::string> out;
  if (memory && *memory > 0) {
    int64_t m = *memory;
    out["shared_buffers"] = kb(m / 4);
    out["effective_cache_size"] = kb(m / 4 * 3);
    out["maintenance_work_mem"] = kb(std::min<int64_t>(m / 16, int64_t{2} << 30));
    out["work_mem"] = kb(std::max<int64_t>(m / 64, int64_t{4} << 20));
  }
  for (const auto& [k, v] : user) out[k] = v;
  return out;
}

}  // namespace polarstack::api
