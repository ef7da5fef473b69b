// CPU and memory limits of local instances: a cgroup per instance holding its instance
// manager, its postmaster and every backend (children inherit it). cgroup v1 (the cpu
// and memory controllers mounted under /sys/fs/cgroup/{cpu,memory}) or v2 (a unified
// /sys/fs/cgroup with cpu and memory controllers). Needs root; the groups are
// polarstack/<namespace>.<cluster>/<instance> under each controller.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace polarstack::runtime::local {

// Why limits cannot be enforced here ("" if they can).
std::string limits_unsupported();

// Creates the instance's cgroups (their cgroup.procs writable by `owner_uid`, so the
// instance manager can join them itself at its start) and sets the limits: cpu_millis
// as a CFS quota per 100 ms period, memory_bytes as the memory limit (0: unlimited).
// Returns the cgroup directories (what the manager joins).
core::Result<std::vector<std::string>> set_limits(const std::string& group, int64_t cpu_millis, int64_t memory_bytes,
                                                  int owner_uid);
// Moves `pid` and all its descendants into the cgroup directories.
core::Status attach(const std::vector<std::string>& dirs, pid_t pid);
// Removes the instance's cgroups (once its processes are gone); best effort.
void remove_limits(const std::string& group);

}  // namespace polarstack::runtime::local
