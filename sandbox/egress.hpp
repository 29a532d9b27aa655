#pragma once
// An egress path for a sandboxed step that may reach the network (the
// dependency install; a build whose project asks and whose operator allows
// it). The step runs in a network namespace of its own whose only way out
// is an HTTP proxy that ferryd runs, listening inside at 127.0.0.1:3128:
//
//   sandbox --(its loopback)--> 127.0.0.1:3128 = ferryd's proxy --> allowed host:port
//
// The proxy takes CONNECT host:port (https) and plain http requests in
// absolute form; it connects only to hosts of the allow-list, and never to
// a loopback, link-local, private or multicast address unless the operator
// listed its range. Everything it refuses it says, in the step's log.
#include <caf/expected.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>

namespace ferry::sandbox {

/// The port the proxy listens on inside the step's namespace.
constexpr uint16_t egress_port = 3128;

struct egress_policy {
  /// Host names a step may reach: "registry.npmjs.org", "*.example.com"
  /// (any name below it), each optionally with ":PORT" (else 443 and 80).
  std::vector<std::string> hosts;
  /// Address ranges that are otherwise refused but allowed here (CIDR, e.g.
  /// "10.1.0.0/16" for an on-premises registry mirror).
  std::vector<std::string> private_ranges;

  /// Whether host:port (host lower case) is on the list.
  bool allows(std::string_view host, uint16_t port) const;
  /// Whether an address may be connected to: a public one, or in a listed range.
  bool address_allowed(const sockaddr* addr) const;
  /// "" or why the policy is malformed (a bad range or host).
  std::string check() const;
};

/// A loopback, link-local, private, shared, multicast, reserved or
/// unspecified address (IPv4, IPv6, IPv4-mapped IPv6).
bool is_internal_address(const sockaddr* addr);

/// The head of a request to the proxy.
struct proxy_request {
  std::string method;
  std::string host; ///< lower case, no trailing dot
  uint16_t port = 0;
  bool connect = false;     ///< CONNECT (a tunnel); else plain http
  std::string head;         ///< plain http: the head to send upstream (origin form, its Host the
                            ///< URL's, closing)
  uint64_t body_length = 0; ///< plain http: the bytes of its body (Content-Length; no chunks)
  bool expects_continue = false; ///< plain http: Expect: 100-continue (answered by the proxy)
};

/// Parses a request head (up to and including the blank line); "" or why
/// it is refused. A plain http request is one request, framed by its
/// Content-Length alone (Transfer-Encoding is refused): nothing after it
/// reaches the host, so no second request names another site there.
std::string parse_proxy_request(std::string_view head, proxy_request& out);

/// What the first bytes of a tunnel say, read as a TLS ClientHello.
struct client_hello {
  enum { incomplete, not_tls, tls } kind = incomplete;
  std::string sni; ///< the server name it asks for (lower case), "" if none
};

/// Reads a tunnel's first bytes as a TLS ClientHello (its first record):
/// incomplete while more bytes are needed (up to 16 KiB), not_tls if they
/// are something else. A tunnel to an allowed host must speak TLS to that
/// very name: a different SNI would ask the host's CDN for another site.
client_hello read_client_hello(std::string_view bytes);

/// The egress path of one step: its namespace and its proxy, until destroyed.
class egress {
public:
  using log_fn = std::function<void(const std::string&)>;
  /// Makes the namespace (loopback up, the proxy listening in it) and starts
  /// the proxy. log is called (from the proxy's threads) for every refusal.
  static caf::expected<std::unique_ptr<egress>> open(egress_policy policy, log_fn log);
  ~egress(); ///< stops the proxy and closes every connection it holds

  egress(const egress&) = delete;
  egress& operator=(const egress&) = delete;

  /// The namespace to join (sandbox::spec::netns_fd).
  int netns_fd() const;
  /// The environment a step needs to use the proxy (npm, yarn, pnpm, git, curl).
  static std::vector<std::pair<std::string, std::string>> proxy_env();
  uint64_t refused() const;
  uint64_t connections() const;

  struct impl;

private:
  explicit egress(std::shared_ptr<impl> i);
  std::shared_ptr<impl> impl_;
};

/// The npm registry the host is configured with (registry= in the global and
/// root's npmrc), as a host name; registry.npmjs.org if none is set.
std::string host_npm_registry();

/// The egress allow-list without egress_allow: the host's npm registry, and
/// when that is npm's own, registry.yarnpkg.com too (the same registry under
/// the name that yarn classic's lockfiles name).
std::vector<std::string> default_egress_hosts();

} // namespace ferry::sandbox
