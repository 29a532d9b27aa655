#include "actors/cluster_certs.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ferry {

namespace {

struct free_x509 {
  void operator()(X509* x) const { X509_free(x); }
};
struct free_pkey {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using x509_ptr = std::unique_ptr<X509, free_x509>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, free_pkey>;

std::string openssl_reason() {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext)
    return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/// A certificate for key named cn, signed by issuer's key (self-signed when
/// issuer is null).
x509_ptr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                   int days, std::string& why) {
  x509_ptr cert{X509_new()};
  BIGNUM* serial = BN_new();
  bool ok = cert && serial && X509_set_version(cert.get(), 2) == 1 &&
            BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
            BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) != nullptr &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days) != nullptr &&
            X509_set_pubkey(cert.get(), key) == 1;
  BN_free(serial);
  X509_NAME* name = cert ? X509_get_subject_name(cert.get()) : nullptr;
  ok = ok &&
       X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>("ferry cluster"), -1, -1,
                                  0) == 1 &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                  0) == 1 &&
       X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) == 1;
  X509* signer = issuer ? issuer : cert.get();
  if (ok && !issuer)
    ok = add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
         add_ext(cert.get(), signer, NID_subject_key_identifier, "hash");
  else if (ok)
    ok = add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
         add_ext(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth") &&
         add_ext(cert.get(), signer, NID_subject_key_identifier, "hash") &&
         add_ext(cert.get(), signer, NID_authority_key_identifier, "keyid");
  ok = ok && X509_sign(cert.get(), issuer ? issuer_key : key, EVP_sha256()) > 0;
  if (!ok) {
    why = "cannot make the certificate of " + cn + ": " + openssl_reason();
    return nullptr;
  }
  return cert;
}

/// Writes PEM text through a temporary file renamed into place; keys 0600.
std::string write_pem(const std::string& path, bool secret,
                      const std::function<bool(BIO*)>& write) {
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0)
    return "cannot write " + tmp + ": " + std::strerror(errno);
  FILE* f = ::fdopen(fd, "w");
  if (!f) {
    ::close(fd);
    return "cannot write " + tmp;
  }
  BIO* bio = BIO_new_fp(f, BIO_NOCLOSE);
  bool ok = bio && write(bio);
  BIO_free(bio);
  ok = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0 && ok;
  std::fclose(f);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return "cannot write " + path;
  }
  return "";
}

x509_ptr read_cert(const std::string& path, std::string& why) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    why = "cannot read " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  x509_ptr cert{PEM_read_X509(f, nullptr, nullptr, nullptr)};
  std::fclose(f);
  if (!cert)
    why = path + " is not a PEM certificate: " + openssl_reason();
  return cert;
}

pkey_ptr read_key(const std::string& path, std::string& why) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    why = "cannot read " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  pkey_ptr key{PEM_read_PrivateKey(f, nullptr, nullptr, nullptr)};
  std::fclose(f);
  if (!key)
    why = path + " is not a PEM private key: " + openssl_reason();
  return key;
}

std::string write_pair(const std::string& cert_path, X509* cert, const std::string& key_path,
                       EVP_PKEY* key) {
  if (auto why = write_pem(key_path, true,
                           [&](BIO* b) {
                             return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr,
                                                             nullptr) == 1;
                           });
      !why.empty())
    return why;
  return write_pem(cert_path, false, [&](BIO* b) { return PEM_write_bio_X509(b, cert) == 1; });
}

} // namespace

node_cert_paths cert_paths_of(const std::string& dir, const std::string& node) {
  auto d = fs::path(dir);
  return {(d / "ca.pem").string(), (d / (node + ".pem")).string(), (d / (node + ".key")).string()};
}

std::string make_cluster_certs(const std::string& dir, const std::vector<std::string>& nodes,
                               int days, std::vector<std::string>& report) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return "cannot create " + dir + ": " + ec.message();
  auto ca_pem = (fs::path(dir) / "ca.pem").string();
  auto ca_key_path = (fs::path(dir) / "ca.key").string();
  std::string why;
  x509_ptr ca;
  pkey_ptr ca_key;
  if (fs::exists(ca_pem) || fs::exists(ca_key_path)) {
    ca = read_cert(ca_pem, why);
    if (ca)
      ca_key = read_key(ca_key_path, why);
    if (!ca || !ca_key)
      return why;
    if (X509_check_private_key(ca.get(), ca_key.get()) != 1)
      return ca_key_path + " is not the key of " + ca_pem;
    report.push_back("kept    " + ca_pem + " (the cluster CA signs the new certificates)");
  } else {
    ca_key.reset(EVP_EC_gen("P-256"));
    if (!ca_key)
      return "cannot make a key: " + openssl_reason();
    ca = make_cert(ca_key.get(), "ferry cluster CA", nullptr, nullptr, days, why);
    if (!ca)
      return why;
    if (auto w = write_pair(ca_pem, ca.get(), ca_key_path, ca_key.get()); !w.empty())
      return w;
    report.push_back("wrote   " + ca_pem + " and " + ca_key_path + " (the cluster CA)");
  }
  for (auto& node : nodes) {
    auto paths = cert_paths_of(dir, node);
    if (fs::exists(paths.cert) && check_node_cert(paths).empty()) {
      report.push_back("kept    " + paths.cert);
      continue;
    }
    pkey_ptr key{EVP_EC_gen("P-256")};
    if (!key)
      return "cannot make a key: " + openssl_reason();
    auto cert = make_cert(key.get(), node, ca.get(), ca_key.get(), days, why);
    if (!cert)
      return why;
    if (auto w = write_pair(paths.cert, cert.get(), paths.key, key.get()); !w.empty())
      return w;
    report.push_back("wrote   " + paths.cert + " and " + paths.key);
  }
  return "";
}

std::string check_node_cert(const node_cert_paths& paths) {
  std::string why;
  auto ca = read_cert(paths.ca, why);
  if (!ca)
    return why;
  auto cert = read_cert(paths.cert, why);
  if (!cert)
    return why;
  auto key = read_key(paths.key, why);
  if (!key)
    return why;
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    return paths.key + " is not the key of " + paths.cert;
  X509_STORE* store = X509_STORE_new();
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  bool ok = store && ctx && X509_STORE_add_cert(store, ca.get()) == 1 &&
            X509_STORE_CTX_init(ctx, store, cert.get(), nullptr) == 1;
  int verified = ok ? X509_verify_cert(ctx) : 0;
  if (verified != 1)
    why = paths.cert + " is not a valid certificate of the CA in " + paths.ca + ": " +
          X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return why;
}

} // namespace ferry
