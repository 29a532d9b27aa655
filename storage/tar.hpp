#pragma once
// A minimal POSIX ustar writer, for downloading a stored tree as one stream.
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry {

class tar_writer {
public:
  /// Into a string (finish() gives it), or written to a descriptor as it
  /// goes (finish() gives "" then; ok() says whether every write was whole).
  tar_writer() = default;
  explicit tar_writer(int fd) : fd_(fd) {}
  /// Adds a directory, file or symlink; paths longer than ustar allows
  /// (100 bytes of name, 155 of prefix) return false.
  bool add_dir(const std::string& path);
  bool add_file(const std::string& path, std::string_view data, bool executable);
  bool add_symlink(const std::string& path, const std::string& target);
  /// The archive with its end-of-archive blocks.
  std::string finish();
  bool ok() const { return ok_; }

private:
  bool header(const std::string& path, char type, uint64_t size, uint32_t mode,
              const std::string& link);
  void emit(std::string_view bytes);
  std::string out_;
  int fd_ = -1;
  bool ok_ = true;
};

} // namespace ferry
