#include "cli/printable.hpp"

namespace ferry::cli {

std::string printable(const std::string& line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size(); ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    auto next = i + 1 < line.size() ? static_cast<unsigned char>(line[i + 1]) : 0;
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
