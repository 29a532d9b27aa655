#include "cli/printable.hpp"

namespace ferry::cli {

namespace {

/// The length of a character at s[i] that reorders or breaks what follows
/// it on a terminal (bidirectional controls, line and paragraph separators),
/// and its code point; 0 if none.
size_t invisible_control(const std::string& s, size_t i, unsigned& code) {
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (at(0) == 0xD8 && at(1) == 0x9C) { // U+061C arabic letter mark
    code = 0x061C;
    return 2;
  }
  if (at(0) != 0xE2 || (at(1) != 0x80 && at(1) != 0x81))
    return 0;
  code = 0x2000 | (at(1) & 0x3F) << 6 | (at(2) & 0x3F);
  bool hidden = (code >= 0x200E && code <= 0x200F) || (code >= 0x2028 && code <= 0x202E) ||
                (code >= 0x2066 && code <= 0x2069);
  return hidden && (at(2) & 0xC0) == 0x80 ? 3 : 0;
}

} // namespace

std::string printable(const std::string& line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size(); ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    auto next = i + 1 < line.size() ? static_cast<unsigned char>(line[i + 1]) : 0;
    unsigned code = 0;
    if (auto n = invisible_control(line, i, code)) { // shown as \u{XXXX}, not obeyed
      static const char hex[] = "0123456789abcdef";
      out += "\\u{";
      for (int shift = 12; shift >= 0; shift -= 4)
        out += hex[(code >> shift) & 15];
      out += '}';
      i += n - 1;
      continue;
    }
    if (c == '\t' || (c >= 0x20 && c != 0x7f && !(c == 0xC2 && next >= 0x80 && next <= 0x9F))) {
      out += static_cast<char>(c);
    } else { // ESC, CR, BEL, a C1 control: shown, not obeyed
      static const char hex[] = "0123456789abcdef";
      if (c == 0xC2) {
        c = next;
        ++i;
      }
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

} // namespace ferry::cli
