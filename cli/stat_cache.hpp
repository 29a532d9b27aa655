#pragma once
// The local stat cache: path, size, mtime, ctime, inode, kind -> SHA-256, so
// that an unchanged file is never read twice, plus the root hash of the
// tree they formed at the last deploy, so that an unchanged tree is not even
// rebuilt. Kept outside the project tree (under $XDG_CACHE_HOME/ferry or
// ~/.cache/ferry), one file per tree.
#include "cli/walk.hpp"
#include "storage/sha256.hpp"

#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ferry::cli {

class stat_cache {
public:
  /// The cache file for a project root (by its absolute path).
  static std::string path_for(const std::string& root);

  /// Loads a cache file; a missing or unreadable file is an empty cache.
  void load(const std::string& file);
  /// Writes atomically (temp file + rename). Entries whose mtime or ctime lies
  /// within 100 ms of scan_ns are left out (the file may change again within
  /// the same timestamp tick), and then no root is kept either.
  bool save(const std::string& file, int64_t scan_ns) const;

  /// The hash of an unchanged file (every stat field equal), else nothing.
  std::optional<std::string> lookup(const scanned_file& f) const;
  void put(const scanned_file& f, const std::string& hash);
  size_t size() const { return map_.size(); }

  /// The root of the tree of exactly these entries, if known.
  const std::string& root() const { return root_; }
  void set_root(std::string root) { root_ = std::move(root); }

private:
  struct entry {
    uint64_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;
    uint64_t ino;
    uint8_t kind;
    digest hash;
  };
  std::string data_;              ///< the loaded file; keys point into it
  std::deque<std::string> owned_; ///< keys added since
  std::unordered_map<std::string_view, entry> map_;
  std::string root_;
};

} // namespace ferry::cli
