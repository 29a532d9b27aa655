#include "storage/paths.hpp"

#include <vector>

namespace ferry {

std::string check_name(std::string_view name) {
  if (name.empty())
    return "empty path component";
  if (name == "." || name == "..")
    return "path component '" + std::string{name} + "' is not allowed";
  if (name.size() > 255)
    return "path component longer than 255 bytes";
  for (char c : name) {
    if (c == '/')
      return "path component contains '/'";
    if (c == '\0')
      return "path contains a NUL byte";
    if (c == '\n')
      return "path contains a newline";
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) // CR, tab, escapes: a forged log line
      return "path contains a control character (" + std::to_string(static_cast<int>(c)) + ")";
  }
  // and in UTF-8: C1 controls (U+0080-U+009F, a terminal's CSI among them) and
  // the bidirectional overrides that make a name read as another (U+202A-U+202E,
  // U+2066-U+2069)
  for (size_t i = 0; i + 1 < name.size(); ++i) {
    auto b0 = static_cast<unsigned char>(name[i]), b1 = static_cast<unsigned char>(name[i + 1]);
    if (b0 == 0xC2 && b1 >= 0x80 && b1 <= 0x9F)
      return "path contains a control character (U+00" + std::string(1, "89"[b1 >= 0x90]) + "x)";
    if (b0 == 0xE2 && i + 2 < name.size()) {
      auto b2 = static_cast<unsigned char>(name[i + 2]);
      if ((b1 == 0x80 && b2 >= 0xAA && b2 <= 0xAE) || (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9))
        return "path contains a bidirectional override (a name that reads as another)";
    }
  }
  return {};
}

std::string check_path(std::string_view path) {
  if (path.empty())
    return "empty path";
  if (path.size() > 4096)
    return "path longer than 4096 bytes";
  if (path.front() == '/')
    return "absolute path '" + std::string{path} + "'";
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    auto part = path.substr(start, end == std::string_view::npos ? path.npos : end - start);
    if (auto why = check_name(part); !why.empty())
      return why + " in '" + std::string{path} + "'";
    if (end == std::string_view::npos)
      return {};
    start = end + 1;
  }
}

std::string check_link_target(std::string_view link_path, std::string_view target) {
  if (target.empty())
    return "symlink '" + std::string{link_path} + "' has an empty target";
  if (target.front() == '/')
    return "symlink '" + std::string{link_path} + "' points to an absolute path";
  if (target.find('\0') != std::string_view::npos)
    return "symlink target contains a NUL byte";
  // Only leading ".." may climb (through real directories of the tree);
  // a ".." after a name could climb out of a symlinked directory.
  long depth = 0;
  for (char c : link_path)
    depth += c == '/';
  bool named = false;
  size_t start = 0;
  while (true) {
    size_t end = target.find('/', start);
    auto part = target.substr(start, end == std::string_view::npos ? target.npos : end - start);
    if (part == "..") {
      if (named)
        return "symlink '" + std::string{link_path} + "' has '..' after a name in its target";
      if (--depth < 0)
        return "symlink '" + std::string{link_path} + "' points outside the tree";
    } else if (!part.empty() && part != ".") {
      named = true;
    }
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  return {};
}

} // namespace ferry
