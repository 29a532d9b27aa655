#pragma once
// The local stat cache: path, size, mtime, ctime, inode -> SHA-256, so that
// an unchanged file is never read twice. Kept outside the project tree
// (under $XDG_CACHE_HOME/ferry or ~/.cache/ferry), one file per tree.
#include "cli/walk.hpp"

#include <optional>
#include <string>
#include <unordered_map>

namespace ferry::cli {

class stat_cache {
public:
  /// The cache file for a project root (by its absolute path).
  static std::string path_for(const std::string& root);

  /// Loads a cache file; a missing or unreadable file is an empty cache.
  void load(const std::string& file);
  /// Writes atomically (temp file + rename). Entries whose mtime lies within
  /// 100 ms of scan_ns are left out: the file may change again in the same
  /// timestamp tick.
  bool save(const std::string& file, int64_t scan_ns) const;

  std::optional<std::string> lookup(const scanned_file& f) const;
  void put(const scanned_file& f, const std::string& hash);
  size_t size() const { return map_.size(); }

private:
  struct entry {
    uint64_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;
    uint64_t ino;
    std::string hash;
  };
  std::unordered_map<std::string, entry> map_;
};

} // namespace ferry::cli
