// polarctl wait: kubectl's verb and flags (--for=condition=C[=value], --for=delete,
// --for=jsonpath={.a.b}=value, --timeout), with live progress for a person.
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "cmd/polarctl/commands.h"
#include "cmd/polarctl/wait_spec.h"

namespace polarstack::polarctl {

using core::Json;

namespace {

// One line saying where the object is: phase, ready instances, the running operation's
// step and the last error a retrying step hit. Empty when status says nothing.
std::string progress_of(const Json& obj, const WaitSpec& spec) {
  const Json status = obj.value("status", Json::object());
  std::string line = status.value("phase", "");
  if (line.empty()) line = "Pending";
  line = "phase " + line;
  if (status.contains("readyInstances") && core::find_path(obj, "spec.readers")) {
    int want = 1 + obj["spec"]["readers"].get<int>();
    line += ", " + std::to_string(status["readyInstances"].get<int>()) + "/" + std::to_string(want) + " instances ready";
  }
  const Json op = status.value("operation", Json::object());
  if (op.is_object() && !op.value("name", "").empty()) {
    line += ", " + op.value("type", "") + " " + op.value("name", "");
    if (!op.value("step", "").empty()) {
      line += " step " + op.value("step", "") + " (" + std::to_string(op.value("stepsDone", 0)) + "/" +
              std::to_string(op.value("stepsTotal", 0)) + " done)";
    }
    if (!op.value("message", "").empty()) line += ": " + op.value("message", "");
    if (!op.value("lastError", "").empty()) {
      line += ", retrying (attempt " + std::to_string(op.value("attempts", 0)) + "): " + op.value("lastError", "");
    }
  }
  for (const auto& c : status.value("conditions", Json::array())) {
    // Problems that explain a wait, whatever is awaited.
    if (c.value("type", "") == "InstanceUnreachable" && c.value("status", "") == "True") line += "; " + c.value("message", "");
  }
  if (spec.kind == WaitSpec::kCondition) {
    for (const auto& c : status.value("conditions", Json::array())) {
      if (c.value("type", "") == spec.condition && !c.value("reason", "").empty()) {
        line += "; " + spec.condition + "=" + c.value("status", "") + " (" + c.value("reason", "") +
                (c.value("message", "").empty() ? "" : ": " + c.value("message", "")) + ")";
      }
    }
  }
  return line;
}

// A PolarDBCluster whose operation stopped waits for a person: waiting longer for another
// condition would only hide that. Returns the reason, or empty.
std::string stopped_for_a_person(const Json& obj, const WaitSpec& spec) {
  if (spec.kind == WaitSpec::kCondition && spec.condition == "Interrupted") return "";
  if (spec.kind == WaitSpec::kDelete) return "";
  for (const auto& c : core::find_path(obj, "status.conditions") ? obj["status"]["conditions"] : Json::array()) {
    if (c.value("type", "") == "Interrupted" && c.value("status", "") == "True") return c.value("message", "interrupted");
  }
  return "";
}

// A line rewritten in place must fit one terminal row: a wrapped one leaves its first
// rows behind when "\r\033[K" clears only the last. Cut to the width, with "...".
std::string fit_terminal(const std::string& line) {
  struct winsize ws {};
  size_t width = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
  if (line.size() < width) return line;
  size_t keep = width > 4 ? width - 4 : 0;
  while (keep > 0 && (static_cast<unsigned char>(line[keep]) & 0xC0) == 0x80) --keep;  // not inside a UTF-8 character
  return line.substr(0, keep) + "...";
}

}  // namespace

int cmd_wait(kube::Client& c, const Options& o, std::ostream& out, std::ostream& err) {
  if (o.args.empty() || o.wait_for.empty()) {
    err << "error: usage: polarctl wait TYPE/NAME... | TYPE --all  --for=condition=Ready [--timeout=5m]\n"
           "       (--for=condition=C[=true|false], --for=delete, --for=jsonpath={.status.phase}=Running)\n";
    return 2;
  }
  auto spec = parse_wait_for(o.wait_for);
  if (!spec) {
    print_error(err, spec.error());
    return 2;
  }
  auto timeout = parse_duration(o.timeout.empty() ? "30s" : o.timeout);
  if (!timeout) {
    print_error(err, timeout.error(), "--timeout");
    return 2;
  }
  // TYPE/NAME ... or TYPE NAME ...
  struct Target {
    const kube::ResourceRef* ref;
    std::string ns, name;
  };
  std::vector<Target> targets;
  const std::string ns = namespace_of(c, o);
  std::string type_word;
  const kube::ResourceRef* type = nullptr;
  for (size_t i = 0; i < o.args.size(); ++i) {
    const std::string& a = o.args[i];
    auto slash = a.find('/');
    std::string t = slash == std::string::npos ? (i == 0 ? a : type_word) : a.substr(0, slash);
    std::string n = slash == std::string::npos ? (i == 0 ? "" : a) : a.substr(slash + 1);
    const kube::ResourceRef* ref = resolve_type(t);
    if (!ref) {
      err << "error: the server doesn't have a resource type \"" << t << "\"\n";
      return 1;
    }
    type_word = t;
    type = ref;
    if (!n.empty()) targets.push_back({ref, ns, n});
  }
  if (o.all) {
    if (!targets.empty()) {
      err << "error: polarctl wait: give names or --all, not both\n";
      return 2;
    }
    if (o.args.size() > 1) {
      err << "error: polarctl wait --all takes one TYPE\n";
      return 2;
    }
    // Those that exist now, as kubectl does: one created later is not waited for.
    auto list = c.list(*type, o.all_namespaces ? "" : ns);
    if (!list) {
      print_error(err, list.error());
      return 1;
    }
    for (const auto& item : list->value("items", Json::array())) {
      targets.push_back({type, core::string_at(item, "metadata.namespace"), core::string_at(item, "metadata.name")});
    }
    if (targets.empty()) {
      err << "error: no matching resources found\n";
      return 1;
    }
  }
  if (targets.empty()) {
    err << "error: polarctl wait needs a name: TYPE/NAME, TYPE NAME or TYPE --all\n";
    return 2;
  }
  const bool tty = ::isatty(STDERR_FILENO);
  const auto deadline = std::chrono::steady_clock::now() + *timeout;
  int failures = 0;
  for (const auto& [ref, target_ns, name] : targets) {
    std::string shown = (o.all_namespaces ? target_ns + "/" : "") + ref->plural + "/" + name;
    std::string last;
    bool met = false;
    while (true) {
      auto obj = c.get(*ref, target_ns, name);
      std::string line;
      if (!obj && obj.error().code == core::Code::kNotFound) {
        if (spec->kind == WaitSpec::kDelete) {
          met = true;
          break;
        }
        print_error(err, obj.error());
        break;
      }
      if (obj) {
        if (wait_met(*spec, *obj)) {
          met = true;
          break;
        }
        if (std::string why = stopped_for_a_person(*obj, *spec); !why.empty()) {
          if (tty && !last.empty()) err << "\n";
          err << "error: " << shown << " stopped and waits for a person: " << why << "\n"
              << "see: polarctl describe " << ref->plural << " " << name << "\n";
          break;
        }
        line = progress_of(*obj, *spec);
      } else {
        line = "cannot read it: " + obj.error().message;  // the server may be restarting: keep trying
      }
      if (line != last) {
        if (tty) err << "\r\033[K" << fit_terminal("  " + shown + ": " + line) << std::flush;
        else err << "  " << shown << ": " << line << std::endl;
        last = line;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        if (tty) err << "\n";
        err << "error: timed out waiting for the condition on " << shown << (last.empty() ? "" : " (" + last + ")") << "\n";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling interval
    }
    if (tty && !last.empty()) err << "\r\033[K" << std::flush;
    if (!met) {
      ++failures;
      continue;
    }
    out << lower_kind(*ref) << "/" << name << (spec->kind == WaitSpec::kDelete ? " deleted" : " condition met") << "\n";
  }
  return failures ? 1 : 0;
}

}  // namespace polarstack::polarctl
