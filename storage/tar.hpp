#pragma once
// A minimal POSIX ustar writer, for downloading a stored tree as one stream.
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry {

class tar_writer {
public:
  /// Adds a directory, file or symlink; paths longer than ustar allows
  /// (100 bytes of name, 155 of prefix) return false.
  bool add_dir(const std::string& path);
  bool add_file(const std::string& path, std::string_view data, bool executable);
  bool add_symlink(const std::string& path, const std::string& target);
  /// The archive with its end-of-archive blocks.
  std::string finish();

private:
  bool header(const std::string& path, char type, uint64_t size, uint32_t mode,
              const std::string& link);
  std::string out_;
};

} // namespace ferry
