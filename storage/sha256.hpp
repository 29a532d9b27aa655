#pragma once
// SHA-256 (OpenSSL; SHA-NI where the CPU has it) and hex helpers.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ferry {

using digest = std::array<uint8_t, 32>;

digest sha256(std::string_view bytes);
std::string sha256_hex(std::string_view bytes);
std::string to_hex(const uint8_t* data, size_t n);
inline std::string to_hex(const digest& d) {
  return to_hex(d.data(), d.size());
}

/// True for exactly 64 lower-case hex digits.
bool is_hash_hex(std::string_view s);

/// Decodes 64 hex digits into 32 bytes; false if s is not a hash.
bool hash_from_hex(std::string_view s, digest& out);

/// Hex of arbitrary bytes and back (for link targets in tree nodes).
std::string hex_encode(std::string_view bytes);
bool hex_decode(std::string_view hex, std::string& out);

/// Incremental hashing of a stream (e.g. a file read in chunks).
class sha256_stream {
public:
  sha256_stream();
  ~sha256_stream();
  sha256_stream(const sha256_stream&) = delete;
  sha256_stream& operator=(const sha256_stream&) = delete;
  void update(const void* data, size_t n);
  digest finish();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ferry
