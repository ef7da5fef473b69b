// File helpers: whole-file reads, atomic 0600 writes, directories, random secrets.
#pragma once

#include <string>
#include <sys/types.h>

#include "core/error.h"

namespace polarstack::core {

Result<std::string> read_file(const std::string& path);
// A one-line secret (password, token): the file's content without trailing whitespace.
Result<std::string> read_secret(const std::string& path);
// `s` without trailing whitespace (newlines, spaces).
std::string trim_right(std::string s);
// Writes to a temporary file in the same directory with `mode`, fsyncs it, then renames
// it over `path`: readers see the old or the new content, never a mix.
Status write_file_atomic(const std::string& path, const std::string& content, mode_t mode = 0600);
// Creates `path` and its parents (like mkdir -p) with `mode` for the ones it creates.
Status ensure_dir(const std::string& path, mode_t mode = 0700);
bool file_exists(const std::string& path);
// `bytes` random bytes from the OS CSPRNG, hex encoded.
std::string random_hex(size_t bytes);
// $POLARSTACK_HOME, else $HOME/.polarstack.
std::string polarstack_home();

// An exclusive flock(2) on `path` (created 0600 if missing) for its lifetime: mutual
// exclusion between processes. ok() is false when the file cannot be opened (e.g. its
// directory is gone); nothing is locked then.
class FileLock {
 public:
  explicit FileLock(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace polarstack::core
