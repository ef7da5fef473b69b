#include "workflow/codec.h"

#include <ctime>

namespace polarstack::workflow {

using core::Json;

std::string format_time(TimePoint t) {
  if (t == TimePoint{}) return "";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

TimePoint parse_time(const std::string& s) {
  if (s.empty()) return {};
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return {};
  auto t = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (*rest == '.') {
    int ms = 0, digits = 0;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest) {
      if (digits < 3) ms = ms * 10 + (*rest - '0');
      digits++;
    }
    while (digits++ < 3) ms *= 10;
    t += std::chrono::milliseconds(ms);
  }
  return t;
}

namespace {
Json steps_json(const std::vector<StepRecord>& steps) {
  Json arr = Json::array();
  for (const auto& s : steps) {
    Json j = {{"name", s.name}, {"state", step_state_name(s.state)}, {"attempts", s.attempts}};
    if (!s.last_error.empty()) j["lastError"] = s.last_error;
    if (auto t = format_time(s.started_at); !t.empty()) j["startedAt"] = t;
    if (auto t = format_time(s.finished_at); !t.empty()) j["finishedAt"] = t;
    arr.push_back(std::move(j));
  }
  return arr;
}

core::Result<std::vector<StepRecord>> steps_from(const Json& arr) {
  std::vector<StepRecord> out;
  if (!arr.is_array()) return out;
  for (const auto& j : arr) {
    StepRecord r;
    r.name = j.value("name", "");
    auto st = parse_step_state(j.value("state", ""));
    if (!st) return std::unexpected(st.error());
    r.state = *st;
    r.attempts = j.value("attempts", 0);
    r.last_error = j.value("lastError", "");
    r.started_at = parse_time(j.value("startedAt", ""));
    r.finished_at = parse_time(j.value("finishedAt", ""));
    out.push_back(std::move(r));
  }
  return out;
}
}  // namespace

Json to_json(const Instance& inst) {
  Json j = {{"workflow", inst.definition}, {"phase", phase_name(inst.phase)}, {"steps", steps_json(inst.steps)}};
  if (!inst.reason.empty()) j["reason"] = inst.reason;
  if (!inst.message.empty()) j["message"] = inst.message;
  if (inst.cancelling) {
    j["cancelling"] = true;
    j["compensation"] = steps_json(inst.compensation);
  }
  if (!inst.context.empty()) j["context"] = inst.context;
  if (auto t = format_time(inst.next_run_at); !t.empty()) j["nextRunAt"] = t;
  if (auto t = format_time(inst.started_at); !t.empty()) j["startedAt"] = t;
  if (auto t = format_time(inst.finished_at); !t.empty()) j["finishedAt"] = t;
  return j;
}

core::Result<Instance> from_json(const Json& j, const std::string& id) {
  Instance inst;
  inst.id = id;
  if (!j.is_object()) return inst;
  inst.definition = j.value("workflow", "");
  auto phase = parse_phase(j.value("phase", ""));
  if (!phase) return std::unexpected(phase.error());
  inst.phase = *phase;
  inst.reason = j.value("reason", "");
  inst.message = j.value("message", "");
  auto steps = steps_from(j.value("steps", Json::array()));
  if (!steps) return std::unexpected(steps.error());
  inst.steps = std::move(*steps);
  inst.cancelling = j.value("cancelling", false);
  auto comp = steps_from(j.value("compensation", Json::array()));
  if (!comp) return std::unexpected(comp.error());
  inst.compensation = std::move(*comp);
  if (j.contains("context") && j["context"].is_object()) {
    for (auto it = j["context"].begin(); it != j["context"].end(); ++it) {
      if (it->is_string()) inst.context[it.key()] = it->get<std::string>();
    }
  }
  inst.next_run_at = parse_time(j.value("nextRunAt", ""));
  inst.started_at = parse_time(j.value("startedAt", ""));
  inst.finished_at = parse_time(j.value("finishedAt", ""));
  return inst;
}

}  // namespace polarstack::workflow
