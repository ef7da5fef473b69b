#include "apiserver/table.h"

#include "core/time.h"

namespace polarstack::apiserver {

using core::Json;

Json table_column_definitions(const ResourceType& rt) {
  Json cols = Json::array();
  cols.push_back({{"name", "Name"}, {"type", "string"}, {"format", "name"},
                  {"description", "Name must be unique within a namespace."}, {"priority", 0}});
  for (const auto& c : rt.columns) {
    cols.push_back({{"name", c.name}, {"type", c.type == "date" ? "string" : c.type}, {"format", ""},
                    {"description", c.description}, {"priority", c.priority}});
  }
  return cols;
}

Json table_row(const ResourceType& rt, const Json& object) {
  Json cells = Json::array();
  cells.push_back(core::string_at(object, "metadata.name"));
  for (const auto& c : rt.columns) {
    std::string path = c.json_path.starts_with(".") ? c.json_path.substr(1) : c.json_path;
    const Json* v = core::find_path(object, path);
    if (!v || v->is_null()) {
      cells.push_back(nullptr);
    } else if (c.type == "date" && v->is_string()) {
      auto tp = core::parse_rfc3339(v->get<std::string>());
      cells.push_back(tp ? core::human_duration(std::chrono::system_clock::now() - *tp) : v->get<std::string>());
    } else {
      cells.push_back(*v);
    }
  }
  Json meta = object.value("metadata", Json::object());
  meta.erase("managedFields");
  return {{"cells", std::move(cells)},
          {"object", {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", std::move(meta)}}}};
}

Json make_table(const ResourceType& rt, const std::vector<Json>& objects, const std::string& rv, bool with_columns) {
  Json rows = Json::array();
  for (const auto& o : objects) rows.push_back(table_row(rt, o));
  Json t = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", {{"resourceVersion", rv}}}};
  t["columnDefinitions"] = with_columns ? table_column_definitions(rt) : Json::array();
  t["rows"] = std::move(rows);
  return t;
}

}  // namespace polarstack::apiserver
