#pragma once
// The blob store's segment files (storage/rocksdb_blob_store.cpp): what
// appends to one, what reads one, and the index entry that says where a
// blob's bytes are in them.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sys/uio.h>
#include <unistd.h>

namespace ferry::segments {

/// A segment is closed for appends past this size.
constexpr uint64_t limit = 1ULL << 30;

/// One open segment being appended to by one put at a time.
struct writer {
  uint64_t id = 0;
  int fd = -1;
  uint64_t offset = 0;
};

/// A segment open for reading, shared by the reads under way: one that a
/// sweep drops stays readable until its last read ends.
struct reader {
  int fd = -1;
  explicit reader(int f) : fd(f) {}
  ~reader() {
    if (fd >= 0)
      ::close(fd);
  }
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;
};

/// An index entry: where a blob's bytes are (24 bytes: size, segment,
/// offset of the bytes, little-endian).
struct location {
  static constexpr size_t encoded_size = 24;
  uint64_t size = 0, seg = 0, off = 0;

  std::string encode() const;
  /// False if v is not an index entry.
  bool decode(std::string_view v);
};

/// Writes every buffer (consuming v); false on an error.
bool write_all(int fd, std::vector<iovec>& v);

} // namespace ferry::segments
