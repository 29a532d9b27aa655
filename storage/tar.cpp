#include "storage/tar.hpp"

#include <cerrno>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace ferry {

namespace {
/// width-1 octal digits, zero-padded, then NUL (values that do not fit are cut).
void octal(char* field, size_t width, uint64_t value) {
  for (size_t i = width - 1; i-- > 0; value >>= 3)
    field[i] = static_cast<char>('0' + (value & 7));
  field[width - 1] = '\0';
}
} // namespace

bool tar_writer::header(const std::string& path, char type, uint64_t size, uint32_t mode,
                        const std::string& link) {
  char h[512];
  std::memset(h, 0, sizeof h);
  std::string name = path, prefix;
  if (name.size() > 100) {
    auto cut = name.rfind('/', 155);
    if (cut == std::string::npos || name.size() - cut - 1 > 100)
      return false;
    prefix = name.substr(0, cut);
    name = name.substr(cut + 1);
  }
  if (link.size() > 100)
    return false;
  std::memcpy(h, name.data(), name.size());
  octal(h + 100, 8, mode);
  octal(h + 108, 8, 0);
  octal(h + 116, 8, 0);
  octal(h + 124, 12, size);
  octal(h + 136, 12, 0);
  h[156] = type;
  std::memcpy(h + 157, link.data(), link.size());
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memcpy(h + 345, prefix.data(), prefix.size());
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h)
    sum += c;
  octal(h + 148, 7, sum);
  h[155] = ' ';
  emit({h, sizeof h});
  return true;
}

bool tar_writer::add_dir(const std::string& path) {
  return header(path + "/", '5', 0, 0755, {});
}

bool tar_writer::add_file(const std::string& path, std::string_view data, bool executable) {
  if (!header(path, '0', data.size(), executable ? 0755 : 0644, {}))
    return false;
  emit(data);
  static const char zeros[512] = {};
  emit({zeros, (512 - data.size() % 512) % 512});
  return true;
}

bool tar_writer::add_symlink(const std::string& path, const std::string& target) {
  return header(path, '2', 0, 0777, target);
}

std::string tar_writer::finish() {
  static const char zeros[1024] = {};
  emit({zeros, sizeof zeros});
  return std::move(out_);
}

void tar_writer::emit(std::string_view bytes) {
  if (fd_ < 0) {
    out_.append(bytes);
    return;
  }
  while (ok_ && !bytes.empty()) {
    auto n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR)
      continue;
    ok_ = n > 0;
    if (n > 0)
      bytes.remove_prefix(static_cast<size_t>(n));
  }
}

} // namespace ferry
