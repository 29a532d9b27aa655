#pragma once
// Scans a project tree for deploy: regular files, executables and symlinks
// that stay inside the tree, honouring .ferryignore. Anything else (device
// files, FIFOs, sockets, escaping symlinks, names with a newline) is an error.
#include "cli/ignore.hpp"
#include "storage/tree.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ferry::cli {

struct scanned_file {
  std::string path;
  entry_kind kind = entry_kind::file;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t ino = 0;
  std::string link_target;
};

struct scan_result {
  std::vector<scanned_file> files;
  std::vector<std::string> errors; ///< one line each; non-empty means refuse the deploy
  uint64_t ignored = 0;
  std::vector<std::string> ignored_env; ///< .env files left out (the first few)
};

/// Scans root with its rules (project_ignores).
scan_result scan_tree(const std::string& root);

} // namespace ferry::cli
