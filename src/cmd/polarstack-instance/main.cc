// polarstack-instance: the instance manager, a binary of its own so that it stays small
// (one runs per database): no libpq, no TLS, no YAML, no HTTP library.
//   polarstack-instance --dir DIR   supervise the instance in DIR (the local runtime starts it)
#include <malloc.h>

#include <cstring>
#include <iostream>
#include <string>

#include "instance/manager.h"

int main(int argc, char** argv) {
  mallopt(M_ARENA_MAX, 1);  // a handful of threads, little allocation: one arena
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::cout << "usage: polarstack-instance --dir DIR\n"
                   "Supervises the PostgreSQL instance in DIR and serves its API; the local runtime starts it.\n";
      return 0;
    } else {
      std::cerr << "polarstack-instance: unknown argument " << a << "\nusage: polarstack-instance --dir DIR\n";
      return 2;
    }
  }
  if (dir.empty()) {
    std::cerr << "polarstack-instance: --dir is required\nusage: polarstack-instance --dir DIR\n";
    return 2;
  }
  return polarstack::instance::run_manager(dir);
}
