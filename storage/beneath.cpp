#include "storage/beneath.hpp"

#include <cerrno>
#include <string>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ferry {

int open_beneath(int dirfd, std::string_view path, int flags, links how, mode_t mode) {
  std::string p(path.empty() ? std::string_view(".") : path);
  open_how h{};
  h.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  h.mode = (flags & O_CREAT) ? mode : 0;
  h.resolve =
      RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (how == links::refuse ? RESOLVE_NO_SYMLINKS : 0);
  long fd;
  do
    fd = ::syscall(SYS_openat2, dirfd, p.c_str(), &h, sizeof h);
  while (fd < 0 && errno == EINTR);
  return static_cast<int>(fd);
}

bool read_beneath(int dirfd, std::string_view path, std::string& out, uint64_t max, links how) {
  unique_fd f{open_beneath(dirfd, path, O_RDONLY, how)};
  if (!f)
    return false;
  struct stat st;
  if (::fstat(f.fd, &st) != 0)
    return false;
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > max) {
    errno = EFBIG;
    return false;
  }
  out.clear();
  char buf[65536];
  while (true) {
    auto n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0)
      return true;
    if (out.size() + static_cast<size_t>(n) > max) {
      errno = EFBIG;
      return false;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept {
  if (this != &o) {
    if (fd >= 0)
      ::close(fd);
    fd = o.fd;
    o.fd = -1;
  }
  return *this;
}

unique_fd::~unique_fd() {
  if (fd >= 0)
    ::close(fd);
}

} // namespace ferry
