#include "cmd/polarctl/output.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/time.h"
#include "core/yaml.h"

namespace polarstack::polarctl {

namespace {
std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

std::string cell_text(const Json& c) {
  if (c.is_null()) return "<none>";
  if (c.is_string()) return c.get<std::string>().empty() ? "<none>" : c.get<std::string>();
  return c.dump();
}

void print_rows(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (const auto& r : rows) {
    if (w.size() < r.size()) w.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}
}  // namespace

void print_table(std::ostream& out, const Json& table, bool wide, bool header, bool ns_column) {
  std::vector<size_t> cols;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head;
  if (ns_column) head.push_back("NAMESPACE");
  const Json& defs = table.value("columnDefinitions", Json::array());
  for (size_t i = 0; i < defs.size(); ++i) {
    if (!wide && defs[i].value("priority", 0) > 0) continue;
    cols.push_back(i);
    head.push_back(upper(defs[i].value("name", "")));
  }
  if (header) rows.push_back(head);
  for (const auto& row : table.value("rows", Json::array())) {
    std::vector<std::string> r;
    if (ns_column) r.push_back(core::string_at(row.value("object", Json::object()), "metadata.namespace"));
    const Json& cells = row.value("cells", Json::array());
    for (size_t i : cols) r.push_back(i < cells.size() ? cell_text(cells[i]) : "<none>");
    rows.push_back(std::move(r));
  }
  if (rows.size() == (header ? 1u : 0u)) return;
  print_rows(out, rows);
}

namespace {
std::string elapsed_of(const Json& status) {
  auto start = core::parse_rfc3339(status.value("startedAt", ""));
  if (!start) return "-";
  auto end = core::parse_rfc3339(status.value("finishedAt", ""));
  auto d = (end ? *end : std::chrono::system_clock::now()) - *start;
  return core::human_duration(d);
}

std::string age_of(const Json& o) {
  auto t = core::parse_rfc3339(core::string_at(o, "metadata.creationTimestamp"));
  return t ? core::human_duration(std::chrono::system_clock::now() - *t) : "<unknown>";
}

void print_steps(std::ostream& out, const char* title, const Json& steps) {
  if (!steps.is_array() || steps.empty()) return;
  out << title << ":\n";
  std::vector<std::vector<std::string>> rows = {{"  #", "STEP", "STATE", "ATTEMPTS", "DURATION", "LAST ERROR"}};
  int i = 1;
  for (const auto& s : steps) {
    rows.push_back({"  " + std::to_string(i++), s.value("name", ""), s.value("state", ""),
                    std::to_string(s.value("attempts", 0)), elapsed_of(s), s.value("lastError", "")});
  }
  print_rows(out, rows);
}
}  // namespace

void print_operations(std::ostream& out, const std::vector<Json>& ops, bool header) {
  std::vector<std::vector<std::string>> rows;
  if (header) rows.push_back({"NAME", "CLUSTER", "TYPE", "PHASE", "PROGRESS", "ELAPSED", "REASON", "AGE"});
  for (const auto& o : ops) {
    Json st = o.value("status", Json::object());
    auto text = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
    rows.push_back({core::string_at(o, "metadata.name"), core::string_at(o, "spec.clusterRef"),
                    core::string_at(o, "spec.type"), text(st.value("phase", "Pending")), text(st.value("progress", "")),
                    elapsed_of(st), text(st.value("reason", "")), age_of(o)});
  }
  print_rows(out, rows);
}

Json for_display(Json object) {
  if (object.contains("metadata")) {
    object["metadata"].erase("managedFields");
    if (object["metadata"].contains("annotations")) {
      object["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
      if (object["metadata"]["annotations"].empty()) object["metadata"].erase("annotations");
    }
  }
  return object;
}

void print_description(std::ostream& out, const Json& object, const Json& events) {
  const Json md = object.value("metadata", Json::object());
  auto line = [&](const std::string& k, const std::string& v) {
    out << k << ":" << std::string(k.size() < 18 ? 18 - k.size() : 1, ' ') << (v.empty() ? "<none>" : v) << "\n";
  };
  line("Name", md.value("name", ""));
  line("Namespace", md.value("namespace", ""));
  line("Kind", object.value("kind", "") + " (" + object.value("apiVersion", "") + ")");
  std::string labels;
  const Json label_map = md.value("labels", Json::object());
  for (auto it = label_map.begin(); it != label_map.end(); ++it) {
    labels += (labels.empty() ? "" : ",") + it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  }
  line("Labels", labels);
  line("Created", md.value("creationTimestamp", ""));
  line("Generation", std::to_string(md.value("generation", 0)));
  line("Resource Version", md.value("resourceVersion", ""));
  if (md.contains("deletionTimestamp")) line("Deleting Since", md.value("deletionTimestamp", ""));
  if (md.contains("finalizers")) line("Finalizers", md["finalizers"].dump());
  if (object.contains("spec")) {
    out << "Spec:\n";
    std::string y = core::to_yaml(object["spec"]);
    size_t pos = 0;
    while (pos < y.size()) {
      size_t nl = y.find('\n', pos);
      out << "  " << y.substr(pos, nl - pos) << "\n";
      pos = nl == std::string::npos ? y.size() : nl + 1;
    }
  }
  bool operation = object.value("kind", "") == "PolarDBOperation";
  if (object.contains("status")) {
    Json status = object["status"];
    Json conditions = status.value("conditions", Json::array());
    status.erase("conditions");
    Json steps = status.value("steps", Json::array());
    Json compensation = status.value("compensation", Json::array());
    if (operation) {
      status.erase("steps");
      status.erase("compensation");
      if (status.contains("startedAt")) status["elapsed"] = elapsed_of(status);
    }
    out << "Status:\n";
    std::string y = core::to_yaml(status);
    size_t pos = 0;
    while (pos < y.size()) {
      size_t nl = y.find('\n', pos);
      out << "  " << y.substr(pos, nl - pos) << "\n";
      pos = nl == std::string::npos ? y.size() : nl + 1;
    }
    if (!conditions.empty()) {
      out << "Conditions:\n";
      std::vector<std::vector<std::string>> rows = {{"  TYPE", "STATUS", "REASON", "MESSAGE"}};
      for (const auto& c : conditions) {
        rows.push_back({"  " + c.value("type", ""), c.value("status", ""), c.value("reason", ""), c.value("message", "")});
      }
      print_rows(out, rows);
    }
    if (operation) {
      print_steps(out, "Steps", steps);
      print_steps(out, "Compensation steps", compensation);
    }
  }
  out << "Events:";
  if (!events.is_array() || events.empty()) {
    out << " <none>\n";
    return;
  }
  out << "\n";
  std::vector<std::vector<std::string>> rows = {{"  TYPE", "REASON", "AGE", "MESSAGE"}};
  for (const auto& e : events) {
    std::string ts = e.value("lastTimestamp", e.value("eventTime", core::string_at(e, "metadata.creationTimestamp")));
    auto tp = core::parse_rfc3339(ts);
    std::string age = tp ? core::human_duration(std::chrono::system_clock::now() - *tp) : "<unknown>";
    rows.push_back({"  " + e.value("type", ""), e.value("reason", ""), age, e.value("message", "")});
  }
  print_rows(out, rows);
}

}  // namespace polarstack::polarctl
