#include "storage/secret_box.hpp"

#include "messages/errors.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {

namespace {

constexpr size_t key_len = 32, nonce_len = 12, tag_len = 16;

using ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

} // namespace

caf::expected<std::string> load_or_create_key(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    std::string key(key_len, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), key_len);
    auto tmp = path + ".tmp";
    int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
      return make_error(ec::storage_error, "create " + tmp + ": " + std::strerror(errno));
    bool ok = ::write(out, key.data(), key.size()) == static_cast<ssize_t>(key.size()) &&
              ::fsync(out) == 0;
    ::close(out);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
      return make_error(ec::storage_error, "write " + path + ": " + std::strerror(errno));
    return key;
  }
  if (fd < 0)
    return make_error(ec::storage_error, "open " + path + ": " + std::strerror(errno));
  std::string key(key_len + 1, '\0');
  auto n = ::read(fd, key.data(), key.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(key_len))
    return make_error(ec::corrupt, path + " is not a 32-byte key");
  key.resize(key_len);
  return key;
}

std::string seal_secret(const std::string& key, const std::string& plain, const std::string& aad) {
  std::string out(nonce_len + plain.size() + tag_len, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  RAND_bytes(o, nonce_len);
  ctx_ptr ctx{EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free};
  int len = 0;
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key), o);
  EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size()));
  EVP_EncryptUpdate(ctx.get(), o + nonce_len, &len, bytes(plain), static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx.get(), o + nonce_len + len, &len);
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_len, o + nonce_len + plain.size());
  return out;
}

caf::expected<std::string> open_secret(const std::string& key, const std::string& sealed,
                                       const std::string& aad) {
  if (sealed.size() < nonce_len + tag_len || key.size() != key_len)
    return make_error(ec::corrupt, "a sealed value is too short");
  auto n = sealed.size() - nonce_len - tag_len;
  std::string plain(n, '\0');
  auto* in = bytes(sealed);
  ctx_ptr ctx{EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free};
  int len = 0;
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key), in);
  EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size()));
  EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, in + nonce_len,
                    static_cast<int>(n));
  std::string tag(sealed.end() - tag_len, sealed.end());
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_len, tag.data());
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) !=
      1)
    return make_error(ec::corrupt, "a sealed value does not open (wrong key or altered)");
  return plain;
}

} // namespace ferry
