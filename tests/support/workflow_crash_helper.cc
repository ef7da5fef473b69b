// A process that runs one 4-step workflow (a, b, c, d) to completion, persisting the
// instance in <dir>/instances/ and applying each step's effect in <dir>/effects/.
// Used by the crash-matrix test: POLARSTACK_FAILPOINTS kills it at a step boundary,
// and a second run must resume and finish with every effect applied exactly once.
//
// Effects: a step creates effects/<name> unless it exists (idempotent), appends
// "<name>" to runs.log on every execution and to applied.log only when it created the
// effect. Step b outputs a token that step d checks against b's effect: context
// survives crashes too.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "core/files.h"
#include "core/log.h"
#include "workflow/codec.h"
#include "workflow/engine.h"
#include "workflow/runner.h"

using namespace polarstack;
using namespace polarstack::workflow;

namespace {

class FileStore : public InstanceStore {
 public:
  explicit FileStore(std::string dir) : dir_(std::move(dir)) {}
  core::Status save(const Instance& inst) override {
    return core::write_file_atomic(dir_ + "/" + inst.id + ".json", to_json(inst).dump(), 0600);
  }
  std::vector<Instance> load_all() {
    std::vector<Instance> out;
    DIR* d = opendir(dir_.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() < 6 || n.substr(n.size() - 5) != ".json") continue;
      auto text = core::read_file(dir_ + "/" + n);
      auto j = text ? core::parse_json(*text) : core::Result<core::Json>(std::unexpected(text.error()));
      if (!j) continue;
      auto inst = from_json(*j, n.substr(0, n.size() - 5));
      if (inst) out.push_back(*inst);
    }
    closedir(d);
    return out;
  }

 private:
  std::string dir_;
};

void append_line(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  std::string l = line + "\n";
  ssize_t n = ::write(fd, l.data(), l.size());
  (void)n;
  ::fsync(fd);
  ::close(fd);
}

Step effect_step(const std::string& dir, const std::string& name) {
  return {name, [dir, name](const StepInput& in) {
            append_line(dir + "/runs.log", name);
            std::string path = dir + "/effects/" + name;
            std::string value = name;
            if (name == "b") value = "token-" + core::random_hex(4);
            if (name == "d") {
              auto b = core::read_file(dir + "/effects/b");
              auto it = in.instance.context.find("b-token");
              if (!b || it == in.instance.context.end() || *b != it->second) {
                return StepResult::fail("ContextLost", "the output of step b did not survive");
              }
            }
            if (!core::file_exists(path)) {
              core::write_file_atomic(path, value, 0600);
              append_line(dir + "/applied.log", name);
            } else if (name == "b") {
              value = *core::read_file(path);
            }
            if (name == "b") return StepResult::done({{"b-token", value}});
            return StepResult::done();
          }};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: workflow_crash_helper DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  core::ensure_dir(dir + "/instances");
  core::ensure_dir(dir + "/effects");
  FileStore store(dir + "/instances");
  SystemClock clock;
  Engine engine(store, clock);
  Definition def{"crash-test", {}, 4};
  for (const char* s : {"a", "b", "c", "d"}) def.steps.push_back(effect_step(dir, s));
  def.retry.initial_backoff = std::chrono::milliseconds(10);
  engine.define(def);

  Runner runner(engine);
  auto existing = store.load_all();  // resume every unfinished run where it stopped
  for (auto& inst : existing) runner.add(inst);
  if (existing.empty()) {
    auto inst = engine.start("run1", "crash-test");
    if (!inst) return 1;
    runner.add(*inst);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto next = runner.run_due();
    const Instance* inst = runner.get("run1");
    if (!inst) return 1;
    if (!next) {
      std::printf("%s %s\n", phase_name(inst->phase), inst->reason.c_str());
      return inst->phase == Phase::kSucceeded ? 0 : 1;
    }
    std::this_thread::sleep_until(std::chrono::system_clock::time_point(*next));
  }
  return 1;
}
