// The engine catalogue: the PostgreSQL 15 builds installed side by side, one directory
// of binaries per minor version. The system's (Debian's postgresql-15 package, in
// /usr/lib/postgresql/15/bin) is always there; others are unpacked under the data root
// by scripts/install-engine.sh:
//
//   <data root>/engines/<version>/usr/lib/postgresql/15/bin/postgres   (e.g. 15.20)
//
// A cluster's spec.version "15" means the system's build; "15.<minor>" an installed one.
#pragma once

#include <string>
#include <vector>

#include "core/error.h"

namespace polarstack::instance {

struct EngineBuild {
  std::string version;  // "15.18"
  std::string bin_dir;  // where its postgres, pg_rewind, pg_basebackup, ... are
  bool system = false;  // Debian's postgresql-15 package
};

// Every installed build, the system's first, then by version. `data_root` empty: the system's only.
std::vector<EngineBuild> installed_engines(const std::string& data_root);
// The build `version` names ("15": the system's); an error that lists what is installed.
core::Result<EngineBuild> find_engine(const std::string& data_root, const std::string& version);
// "15.18" from `postgres --version` in `bin_dir` (run once per directory per process).
std::string engine_version_of(const std::string& bin_dir);
// "15.2" < "15.18": by number.
bool version_less(const std::string& a, const std::string& b);

}  // namespace polarstack::instance
