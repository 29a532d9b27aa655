#pragma once
// Moving trees between the blob store and a directory: restoring a version's
// source into a build slot, and storing a build's output as an artifact.
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
/// ever written: every path component is created, never followed.
caf::error export_tree(blob_store& store, const std::string& root, uint8_t tree_ns,
                       const std::string& dest);

/// Stores everything under dir (regular files, executables, symlinks that
/// stay inside) as a tree in tree_ns and its files in the namespace below.
/// Device files, FIFOs, sockets and escaping symlinks are refused.
caf::expected<std::pair<std::string, tree_stats>> import_dir(blob_store& store,
                                                             const std::string& dir,
                                                             uint8_t tree_ns);

} // namespace ferry
