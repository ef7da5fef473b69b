#include "instance/engines.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/files.h"
#include "core/process.h"
#include "instance/config.h"

namespace polarstack::instance {

namespace fs = std::filesystem;

std::string engine_version_of(const std::string& bin_dir) {
  static std::mutex mu;
  static std::map<std::string, std::string> known;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = known.find(bin_dir); it != known.end()) return it->second;
  // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
  auto r = core::run({bin_dir + "/postgres", "--version"}, std::chrono::seconds(10));
  std::string v;
  if (r && r->exit_code == 0) {
    const std::string tag = "(PostgreSQL) ";
    if (size_t at = r->output.find(tag); at != std::string::npos) {
      size_t from = at + tag.size();
      size_t end = r->output.find_first_not_of("0123456789.", from);
      v = r->output.substr(from, end == std::string::npos ? std::string::npos : end - from);
    }
  }
  if (!v.empty()) known[bin_dir] = v;  // a failure is asked again next time
  return v;
}

bool version_less(const std::string& a, const std::string& b) {
  auto parts = [](const std::string& s) {
    std::vector<long> out;
    size_t at = 0;
    while (at <= s.size()) {
      size_t dot = s.find('.', at);
      out.push_back(std::atol(s.substr(at, dot == std::string::npos ? std::string::npos : dot - at).c_str()));
      if (dot == std::string::npos) break;
      at = dot + 1;
    }
    return out;
  };
  return parts(a) < parts(b);
}

std::vector<EngineBuild> installed_engines(const std::string& data_root) {
  std::vector<EngineBuild> out;
  std::string sys = engine_version_of(kBinDir);
  if (!sys.empty()) out.push_back({sys, kBinDir, true});
  std::vector<EngineBuild> more;
  std::error_code ec;
  if (!data_root.empty()) {
    for (auto it = fs::directory_iterator(data_root + "/engines", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::string version = it->path().filename().string();
      std::string bin = it->path().string() + "/usr/lib/postgresql/15/bin";
      if (version.rfind("15.", 0) != 0 || !core::file_exists(bin + "/postgres")) continue;  // not (yet) complete
      if (version == sys) continue;  // the system's, unpacked again
      more.push_back({version, bin, false});
    }
  }
  std::sort(more.begin(), more.end(), [](const EngineBuild& a, const EngineBuild& b) { return version_less(a.version, b.version); });
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

core::Result<EngineBuild> find_engine(const std::string& data_root, const std::string& version) {
  auto all = installed_engines(data_root);
  std::string list;
  for (const auto& e : all) {
    if (e.version == version || (version == "15" && e.system) || (version.empty() && e.system)) return e;
    list += (list.empty() ? "" : ", ") + e.version;
  }
  return core::fail(core::Code::kInvalid, "PostgreSQL " + version + " is not installed (installed: " +
                                              (list.empty() ? "none" : list) +
                                              "; add one with scripts/install-engine.sh " + version + ")");
}

}  // namespace polarstack::instance
