// Two fixes to caf::openssl (0.17.6) on the actor port, by interposing the
// OpenSSL calls it makes (an executable's definition comes first in symbol
// lookup; these are exported because libcaf_openssl, on the link line,
// refers to them):
//
// 1. A clean error queue before each TLS call. OpenSSL's SSL_get_error()
//    reads the thread's error queue, which must be empty before the call;
//    CAF leaves a failed handshake's errors there, and the next read of a
//    healthy connection on the same thread was taken for a failure: every
//    refused intruder cut the nodes' own connections (remote_link_unreachable).
// 2. A log of the connections the actor port refuses: CAF says nothing when
//    a handshake fails. SSL_CTX_set_verify, called on each connection's
//    context with mutual authentication on, adds an info callback that
//    reports a fatal alert on the accepting side (no certificate, one the
//    cluster CA did not sign, a peer that does not trust ours) with the
//    peer's address.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

namespace {

/// The libssl function this file stands in front of.
template <class Fn>
Fn real_openssl(const char* name) {
  auto f = reinterpret_cast<Fn>(::dlvsym(RTLD_NEXT, name, "OPENSSL_3.0.0"));
  return f ? f : reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

std::string peer_of(const SSL* ssl) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  int fd = SSL_get_fd(ssl);
  if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return "a closed connection";
  char host[INET6_ADDRSTRLEN] = "an unknown address";
  uint16_t port = 0;
  if (sa.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (sa.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<sockaddr_in6*>(&sa);
    ::inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    port = ntohs(in->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

/// At most 20 lines a minute: a client that knocks in a loop cannot fill
/// the log; the next line says how many were left out.
bool may_log(unsigned& skipped) {
  static std::atomic<int64_t> window{0};
  static std::atomic<unsigned> in_window{0}, dropped{0};
  auto now = std::chrono::duration_cast<std::chrono::minutes>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  if (window.exchange(now) != now)
    in_window = 0;
  if (++in_window > 20) {
    ++dropped;
    return false;
  }
  skipped = dropped.exchange(0);
  return true;
}

/// What the log needs of one connection, kept from its first callback
/// (by the time an alert comes, the peer may be gone and its address too).
struct handshake_note {
  std::string peer;
  bool logged = false;
};

void free_note(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<handshake_note*>(ptr);
}

void on_info(const SSL* ssl, int where, int ret) {
  auto* s = const_cast<SSL*>(ssl);
  if (!SSL_is_server(s)) // (the dialing side's supervisor logs its own failure)
    return;
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_note);
  auto* note = static_cast<handshake_note*>(SSL_get_ex_data(s, index));
  if (!note) {
    note = new handshake_note{peer_of(ssl)};
    SSL_set_ex_data(s, index, note);
  }
  // a fatal alert: either side may be the one that refuses; one line a
  // connection (the first alert says why)
  if (!(where & SSL_CB_ALERT) || (ret >> 8) != SSL3_AL_FATAL || note->logged)
    return;
  note->logged = true;
  unsigned skipped = 0;
  if (!may_log(skipped))
    return;
  std::string why = (where & SSL_CB_WRITE) ? "refused it" : "it refused this node";
  int desc = ret & 0xff; // (OpenSSL 3.0 has no name for TLS 1.3's 116)
  why += std::string(" (") +
         (desc == 116 ? "certificate required" : SSL_alert_desc_string_long(ret)) + ")";
  long verify = SSL_get_verify_result(ssl);
  if ((where & SSL_CB_WRITE) && verify != X509_V_OK)
    why += std::string(": its certificate: ") + X509_verify_cert_error_string(verify);
  std::fprintf(stderr,
               "ferryd: actor port: a TLS handshake with %s failed, %s; only nodes with a "
               "certificate of this cluster's CA may connect%s\n",
               note->peer.c_str(), why.c_str(),
               skipped ? (" [" + std::to_string(skipped) + " more not logged]").c_str() : "");
}

} // namespace

extern "C" void SSL_CTX_set_verify(SSL_CTX* ctx, int mode, SSL_verify_cb cb) {
  static auto real = real_openssl<void (*)(SSL_CTX*, int, SSL_verify_cb)>("SSL_CTX_set_verify");
  real(ctx, mode, cb);
  SSL_CTX_set_info_callback(ctx, on_info);
}

extern "C" int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = real_openssl<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

extern "C" int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = real_openssl<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

extern "C" int SSL_accept(SSL* ssl) {
  static auto real = real_openssl<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

extern "C" int SSL_connect(SSL* ssl) {
  static auto real = real_openssl<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}
