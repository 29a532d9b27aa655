#pragma once
// Opening files beneath a directory that someone else may have written (a
// build's slot, a deployment's files): a path is resolved from a directory
// descriptor and never leaves it, through "..", an absolute path or a
// symlink (openat2 with RESOLVE_BENEATH; Linux 5.6 and later).
#include <cstdint>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace ferry {

enum class links {
  refuse, ///< any symlink on the way fails (ELOOP): for trees a tenant wrote
  inside, ///< symlinks that resolve beneath the directory are followed
};

/// openat2(dirfd, path, flags | O_CLOEXEC) confined beneath dirfd; -1 with
/// errno on failure (EXDEV: it would leave; ELOOP: a refused symlink).
int open_beneath(int dirfd, std::string_view path, int flags, links how = links::refuse,
                 mode_t mode = 0);

/// Reads a whole file beneath dirfd, at most max bytes; false (errno set,
/// EFBIG if larger) if it cannot.
bool read_beneath(int dirfd, std::string_view path, std::string& out, uint64_t max,
                  links how = links::refuse);

/// Owns a descriptor.
struct unique_fd {
  int fd = -1;
  unique_fd() = default;
  explicit unique_fd(int f) : fd(f) {}
  unique_fd(unique_fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  unique_fd& operator=(unique_fd&& o) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();
  explicit operator bool() const { return fd >= 0; }
};

} // namespace ferry
