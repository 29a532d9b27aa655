#pragma once
// Moving trees between the blob store and a directory: restoring a version's
// source into a build slot, storing a build's output as an artifact, and
// copying a directory a sandbox wrote. Every walk resolves paths beneath the
// tree's own root (storage/beneath.hpp): a symlink or ".." that a tenant
// placed is never followed out of it, and a walk holds a bounded number of
// descriptors however wide the tree.
#include "storage/blob_store.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <utility>

namespace ferry {

/// Writes the stored tree `root` (directory nodes in tree_ns, files in the
/// namespace below) into dest, which is created and must not exist yet.
/// Files get mode 0644 (0755 if executable); symlinks are recreated as they
/// are (they were checked to stay inside the tree). Nothing outside dest is
/// ever written: every path component is created, never followed. With an
/// owner, everything created is given to that host uid and gid.
caf::error export_tree(blob_store& store, const std::string& root, uint8_t tree_ns,
                       const std::string& dest, uint32_t owner = 0);

/// Bounds of an import (0: none).
struct import_limits {
  uint64_t max_file = 0;  ///< the largest file
  uint64_t max_total = 0; ///< all the files together
};

/// Stores everything under dir (regular files, executables, symlinks that
/// stay inside) as a tree in tree_ns and its files in the namespace below.
/// dir itself must be a directory, not a symlink to one; device files,
/// FIFOs, sockets, escaping symlinks and files over the limits are refused.
caf::expected<std::pair<std::string, tree_stats>> import_dir(blob_store& store,
                                                             const std::string& dir,
                                                             uint8_t tree_ns,
                                                             const import_limits& limits = {});

/// Copies the directory from (not a symlink) into to (created): directories,
/// regular files (permission bits kept, no set-id) and symlinks as links,
/// none followed; anything else is left out. With an owner, the copy is
/// given to that host uid and gid.
caf::error copy_dir(const std::string& from, const std::string& to, uint32_t owner = 0);

} // namespace ferry
