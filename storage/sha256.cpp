#include "storage/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace ferry {

namespace {
constexpr char hexdigits[] = "0123456789abcdef";

struct hex_table {
  int8_t v[256];
  constexpr hex_table() : v{} {
    for (int i = 0; i < 256; ++i)
      v[i] = -1;
    for (int i = 0; i < 10; ++i)
      v['0' + i] = static_cast<int8_t>(i);
    for (int i = 0; i < 6; ++i)
      v['a' + i] = static_cast<int8_t>(10 + i);
  }
};
constexpr hex_table hex_lut;

inline int hexval(char c) {
  return hex_lut.v[static_cast<uint8_t>(c)];
}
} // namespace

digest sha256(std::string_view bytes) {
  digest d;
  unsigned int n = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), d.data(), &n, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_Digest failed");
  return d;
}

std::string sha256_hex(std::string_view bytes) {
  return to_hex(sha256(bytes));
}

std::string to_hex(const uint8_t* data, size_t n) {
  std::string s(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = hexdigits[data[i] >> 4];
    s[2 * i + 1] = hexdigits[data[i] & 15];
  }
  return s;
}

bool is_hash_hex(std::string_view s) {
  if (s.size() != 64)
    return false;
  int bad = 0;
  for (char c : s)
    bad |= hexval(c);
  return bad >= 0;
}

bool hash_from_hex(std::string_view s, digest& out) {
  if (s.size() != 64)
    return false;
  int bad = 0;
  for (size_t i = 0; i < 32; ++i) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    bad |= hi | lo;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return bad >= 0;
}

std::string hex_encode(std::string_view bytes) {
  return to_hex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

bool hex_decode(std::string_view hex, std::string& out) {
  if (hex.size() % 2)
    return false;
  out.resize(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return true;
}

struct sha256_stream::impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~impl() { EVP_MD_CTX_free(ctx); }
};

sha256_stream::sha256_stream() : impl_(std::make_unique<impl>()) {
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
}

sha256_stream::~sha256_stream() = default;

void sha256_stream::update(const void* data, size_t n) {
  EVP_DigestUpdate(impl_->ctx, data, n);
}

digest sha256_stream::finish() {
  digest d;
  unsigned int n = 0;
  EVP_DigestFinal_ex(impl_->ctx, d.data(), &n);
  return d;
}

} // namespace ferry
