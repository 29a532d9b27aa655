#pragma once
// A temporary directory removed with everything in it when it goes.
#include <string>

namespace ferry::test {

class tmpdir {
public:
  tmpdir();
  ~tmpdir();
  tmpdir(const tmpdir&) = delete;
  tmpdir& operator=(const tmpdir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

/// Writes a file (creating parent directories).
void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

} // namespace ferry::test
