#pragma once
// Directory nodes: the Merkle tree of a version's source.
//
// A directory node is a blob in the "tree" namespace whose bytes list its
// entries, one line each, sorted by name, in one canonical form:
//
//     <kind> <size> <ref> <name>\n
//
// kind: f (file), x (executable file), d (directory), l (symlink)
// size: bytes of the file, of the whole subtree (d), of the target (l)
// ref:  hex SHA-256 of the file or directory node; hex of the link target (l)
//
// A node's hash is the SHA-256 of those bytes, so an unchanged subtree is
// recognised by one comparison. Parsing accepts only the canonical form.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

enum class entry_kind : char { file = 'f', exec = 'x', dir = 'd', link = 'l' };

struct tree_entry {
  entry_kind kind = entry_kind::file;
  uint64_t size = 0;
  std::string ref; ///< hash hex (f, x, d) or the raw link target (l)
  std::string name;
};

/// Canonical bytes of a node; entries must be sorted by name and unique.
std::string encode_tree(const std::vector<tree_entry>& entries);

/// Parses a node; returns the reason if it is not canonical, else "".
std::string parse_tree(std::string_view bytes, std::vector<tree_entry>& out);

/// One file or symlink of a flat manifest.
struct flat_entry {
  std::string path;
  entry_kind kind = entry_kind::file; ///< f, x or l
  uint64_t size = 0;
  std::string ref; ///< hash hex, or the link target
};

/// One directory node of a built tree.
struct built_node {
  std::string path; ///< "" for the root
  std::string hash;
  std::string bytes;
  std::vector<tree_entry> entries;
};

struct built_tree {
  std::string root;
  std::vector<built_node> nodes; ///< children before parents; the root is last
  uint64_t files = 0;
  uint64_t bytes = 0;
};

/// What went wrong with a manifest: a code name from errors.hpp and a reason.
struct tree_error {
  std::string code;
  std::string reason;
  explicit operator bool() const { return !code.empty(); }
};

/// Builds the directory nodes of a flat manifest, checking every path (no
/// "..", absolute, empty or NUL), duplicates, a file used as a directory,
/// hashes, and that every symlink stays inside the tree. Empty directories
/// are not represented.
tree_error build_tree(std::vector<flat_entry> entries, built_tree& out);

} // namespace ferry
