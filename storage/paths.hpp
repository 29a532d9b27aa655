#pragma once
// Checks of paths that come from clients. Every path in a manifest or tree is
// relative, '/'-separated, and names something inside the tree.
#include <string>
#include <string_view>

namespace ferry {

/// Empty if name is a valid single path component; else the reason.
/// Refused: "", ".", "..", names with '/' or a control character (NUL,
/// '\n', '\r', any below 0x20, DEL), names over 255 bytes.
std::string check_name(std::string_view name);

/// Empty if path is a valid relative path of valid components; else the reason.
/// Refused: absolute paths, "a//b", trailing '/', any bad component, over 4096 bytes.
std::string check_path(std::string_view path);

/// Empty if a symlink at link_path (relative to the tree root) with this
/// target resolves inside the tree (lexically); else the reason.
std::string check_link_target(std::string_view link_path, std::string_view target);

} // namespace ferry
