#include "storage/segments.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace ferry::segments {

std::string location::encode() const {
  std::string v(encoded_size, '\0');
  std::memcpy(v.data(), &size, 8);
  std::memcpy(v.data() + 8, &seg, 8);
  std::memcpy(v.data() + 16, &off, 8);
  return v;
}

bool location::decode(std::string_view v) {
  if (v.size() != encoded_size)
    return false;
  std::memcpy(&size, v.data(), 8);
  std::memcpy(&seg, v.data() + 8, 8);
  std::memcpy(&off, v.data() + 16, 8);
  return true;
}

bool write_all(int fd, std::vector<iovec>& v) {
  size_t i = 0;
  while (i < v.size()) {
    auto w = ::writev(fd, v.data() + i, static_cast<int>(std::min<size_t>(v.size() - i, IOV_MAX)));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    auto left = static_cast<size_t>(w);
    while (i < v.size() && left >= v[i].iov_len)
      left -= v[i++].iov_len;
    if (left) {
      v[i].iov_base = static_cast<char*>(v[i].iov_base) + left;
      v[i].iov_len -= left;
    }
  }
  return true;
}

} // namespace ferry::segments
