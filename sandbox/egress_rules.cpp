// The rules of the egress path: which hosts and addresses a step may reach,
// and how the proxy reads what a step sends it (untrusted bytes: fuzzed).
#include "sandbox/egress.hpp"

#include "messages/errors.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace ferry::sandbox {

namespace {

using steady = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool parse_port(std::string_view s, uint16_t& port) {
  if (s.empty() || s.size() > 5)
    return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535)
    return false;
  port = static_cast<uint16_t>(v);
  return true;
}

/// "host:port" or "[v6]:port" (port required unless default_port).
bool split_authority(std::string_view a, std::string& host, uint16_t& port, uint16_t default_port) {
  std::string_view h = a, p;
  if (!a.empty() && a.front() == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos)
      return false;
    h = a.substr(1, close - 1);
    auto rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return false;
      p = rest.substr(1);
    }
  } else if (auto colon = a.rfind(':'); colon != std::string_view::npos) {
    h = a.substr(0, colon);
    p = a.substr(colon + 1);
  }
  if (p.empty()) {
    if (!default_port)
      return false;
    port = default_port;
  } else if (!parse_port(p, port)) {
    return false;
  }
  if (h.empty() || h.size() > 253)
    return false;
  for (char c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':' ||
          c == '_'))
      return false;
  host = lower(h);
  while (!host.empty() && host.back() == '.')
    host.pop_back();
  return !host.empty();
}

/// A CIDR range: family, address bytes, prefix length.
struct range {
  int family = 0;
  uint8_t bytes[16] = {};
  int prefix = 0;
};

bool parse_range(std::string_view text, range& r) {
  auto slash = text.find('/');
  std::string addr(text.substr(0, slash));
  int max_bits = addr.find(':') != std::string::npos ? 128 : 32;
  r.family = max_bits == 128 ? AF_INET6 : AF_INET;
  if (inet_pton(r.family, addr.c_str(), r.bytes) != 1)
    return false;
  r.prefix = max_bits;
  if (slash != std::string_view::npos) {
    uint16_t p = 0;
    auto bits = text.substr(slash + 1);
    if (bits == "0")
      p = 0;
    else if (!parse_port(bits, p) || p > max_bits)
      return false;
    r.prefix = p;
  }
  return true;
}

bool in_range(const range& r, int family, const uint8_t* bytes) {
  if (family != r.family)
    return false;
  int full = r.prefix / 8, rest = r.prefix % 8;
  if (std::memcmp(bytes, r.bytes, static_cast<size_t>(full)) != 0)
    return false;
  if (rest == 0)
    return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (bytes[full] & mask) == (r.bytes[full] & mask);
}

const std::vector<range>& internal_ranges() {
  static const std::vector<range> ranges = [] {
    std::vector<range> out;
    for (auto text : {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                      "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15",
                      "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10",
                      "ff00::/8", "64:ff9b:1::/48"}) {
      range r;
      parse_range(text, r);
      out.push_back(r);
    }
    return out;
  }();
  return ranges;
}

/// The family and bytes of an address, an IPv4-mapped IPv6 one as IPv4.
bool address_bytes(const sockaddr* addr, int& family, uint8_t* bytes) {
  if (addr->sa_family == AF_INET) {
    family = AF_INET;
    std::memcpy(bytes, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
    return true;
  }
  if (addr->sa_family == AF_INET6) {
    auto* a6 = &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a6->s6_addr, mapped, 12) == 0) {
      family = AF_INET;
      std::memcpy(bytes, a6->s6_addr + 12, 4);
    } else {
      family = AF_INET6;
      std::memcpy(bytes, a6->s6_addr, 16);
    }
    return true;
  }
  return false;
}

} // namespace

bool is_internal_address(const sockaddr* addr) {
  int family = 0;
  uint8_t bytes[16];
  if (!address_bytes(addr, family, bytes))
    return true;
  for (auto& r : internal_ranges())
    if (in_range(r, family, bytes))
      return true;
  return false;
}

bool egress_policy::allows(std::string_view host, uint16_t port) const {
  for (auto& entry : hosts) {
    bool wildcard = entry.rfind("*.", 0) == 0;
    std::string name;
    uint16_t listed = 0;
    if (!split_authority(wildcard ? entry.substr(2) : entry, name, listed, 1))
      continue;
    bool any_port = entry.find(':') == std::string::npos;
    if (any_port ? (port != 443 && port != 80) : port != listed)
      continue;
    if (wildcard) { // any name below it
      auto suffix = "." + name;
      if (host.size() > suffix.size() &&
          host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0)
        return true;
    } else if (host == name) {
      return true;
    }
  }
  return false;
}

bool egress_policy::address_allowed(const sockaddr* addr) const {
  if (!is_internal_address(addr))
    return true;
  int family = 0;
  uint8_t bytes[16];
  if (!address_bytes(addr, family, bytes))
    return false;
  for (auto& text : private_ranges) {
    range r;
    if (parse_range(text, r) && in_range(r, family, bytes))
      return true;
  }
  return false;
}

std::string egress_policy::check() const {
  for (auto& h : hosts) {
    std::string name;
    uint16_t port = 0;
    auto bare = h.rfind("*.", 0) == 0 ? h.substr(2) : h;
    if (!split_authority(bare, name, port, 1) || name.find('*') != std::string::npos)
      return "'" + h + "' is not a host name (with an optional :PORT)";
  }
  for (auto& r : private_ranges) {
    range parsed;
    if (!parse_range(r, parsed))
      return "'" + r + "' is not an address range (such as 10.1.0.0/16)";
  }
  return {};
}

std::string parse_proxy_request(std::string_view head, proxy_request& out) {
  auto eol = head.find("\r\n");
  if (eol == std::string_view::npos)
    return "no request line";
  auto line = head.substr(0, eol);
  for (size_t i = 0; i < head.size(); ++i) {
    char c = head[i];
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f)
      return "control characters in the request";
    // CR and LF only as a pair: a bare one ends a line for some servers, not for others
    if ((c == '\r' && (i + 1 >= head.size() || head[i + 1] != '\n')) ||
        (c == '\n' && (i == 0 || head[i - 1] != '\r')))
      return "a bare CR or LF in the request";
  }
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return "malformed request line";
  auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0")
    return "not HTTP/1.x";
  if (method.empty() ||
      !std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    return "malformed method";
  out.method = std::string(method);
  if (method == "CONNECT") {
    out.connect = true;
    if (!split_authority(target, out.host, out.port, 0))
      return "CONNECT needs host:port";
    return {};
  }
  out.connect = false;
  static constexpr std::string_view scheme = "http://";
  if (target.size() <= scheme.size() || lower(target.substr(0, scheme.size())) != scheme)
    return "a proxy request names an absolute http:// URL (https goes through CONNECT)";
  auto rest = target.substr(scheme.size());
  auto end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos)
    return "credentials in a URL";
  if (!split_authority(authority, out.host, out.port, 80))
    return "malformed host in the URL";
  std::string path(end == std::string_view::npos ? std::string_view("/") : rest.substr(end));
  if (path.front() != '/')
    path.insert(path.begin(), '/');
  out.head = out.method + " " + path + " " + std::string(version) + "\r\n";
  out.body_length = 0;
  out.expects_continue = false;
  bool seen_length = false;
  size_t pos = eol + 2;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    if (next == std::string_view::npos)
      return "a header line does not end";
    auto field = head.substr(pos, next - pos);
    pos = next + 2;
    if (field.empty())
      break;
    if (field.front() == ' ' || field.front() == '\t')
      return "folded header lines";
    auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return "malformed header line";
    auto raw_name = field.substr(0, colon);
    if (!std::all_of(raw_name.begin(), raw_name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) ||
                 std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
        }))
      return "malformed header name"; // ("Host :" is a Host to some servers)
    auto name = lower(raw_name);
    if (name == "transfer-encoding")
      return "a body in chunks (Transfer-Encoding): send its Content-Length";
    if (name == "content-length") {
      auto value = field.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      uint64_t n = 0;
      auto [end_at, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (seen_length || value.empty() || ec != std::errc{} ||
          end_at != value.data() + value.size())
        return "a malformed or second Content-Length";
      seen_length = true;
      out.body_length = n;
    }
    if (name == "expect") {
      out.expects_continue = true; // (the proxy answers it; the host never sees it)
      continue;
    }
    if (name == "proxy-connection" || name == "proxy-authorization" || name == "connection" ||
        name == "keep-alive" || name == "host" || name == "forwarded" ||
        name.rfind("x-forwarded-", 0) == 0) // (Host: the URL's, below; never another site's)
      continue;
    out.head.append(field).append("\r\n");
  }
  out.head += "Host: " + std::string(authority) + "\r\nConnection: close\r\n\r\n";
  return {};
}

client_hello read_client_hello(std::string_view b) {
  client_hello out;
  auto u8 = [&](size_t at) { return static_cast<uint32_t>(static_cast<unsigned char>(b[at])); };
  auto u16 = [&](size_t at) { return u8(at) << 8 | u8(at + 1); };
  if (b.empty())
    return out;
  if (u8(0) != 0x16) { // a handshake record, or not TLS at all
    out.kind = client_hello::not_tls;
    return out;
  }
  if (b.size() < 5)
    return out;
  size_t record = u16(3);
  if (u8(1) != 3 || record < 4 || record > 16384) {
    out.kind = client_hello::not_tls;
    return out;
  }
  if (b.size() < 5 + record)
    return out;
  auto h = b.substr(5, record); // (a ClientHello that spans records: refused below)
  auto fail = [&] {
    out.kind = client_hello::not_tls;
    return out;
  };
  if (static_cast<unsigned char>(h[0]) != 1)
    return fail();
  size_t length = static_cast<size_t>(static_cast<unsigned char>(h[1])) << 16 |
                  static_cast<size_t>(static_cast<unsigned char>(h[2])) << 8 |
                  static_cast<unsigned char>(h[3]);
  if (length + 4 > h.size())
    return fail();
  size_t at = 4 + 2 + 32; // version, random
  auto skip = [&](size_t len_bytes) {
    if (at + len_bytes > h.size())
      return false;
    size_t n = 0;
    for (size_t i = 0; i < len_bytes; ++i)
      n = n << 8 | static_cast<unsigned char>(h[at + i]);
    at += len_bytes + n;
    return at <= h.size();
  };
  if (!skip(1) || !skip(2) || !skip(1)) // session id, cipher suites, compression
    return fail();
  out.kind = client_hello::tls;
  if (at + 2 > h.size())
    return out; // no extensions: no name
  size_t end = at + 2 +
               (static_cast<size_t>(static_cast<unsigned char>(h[at])) << 8 |
                static_cast<unsigned char>(h[at + 1]));
  at += 2;
  if (end > h.size())
    return fail();
  std::set<size_t> seen; // (a second extension of a type: which one counts differs)
  while (at + 4 <= end) {
    size_t type = static_cast<size_t>(static_cast<unsigned char>(h[at])) << 8 |
                  static_cast<unsigned char>(h[at + 1]);
    size_t len = static_cast<size_t>(static_cast<unsigned char>(h[at + 2])) << 8 |
                 static_cast<unsigned char>(h[at + 3]);
    at += 4;
    if (at + len > end || !seen.insert(type).second)
      return fail();
    // Encrypted Client Hello (and its draft, ESNI): the name in the clear
    // is not the one asked for
    if (type == 0xfe0d || type == 0xffce)
      return fail();
    if (type == 0) { // server_name: a list of (type, length, name); one host_name
      auto ext = h.substr(at, len);
      if (ext.size() < 5 || static_cast<unsigned char>(ext[2]) != 0)
        return fail();
      size_t list = static_cast<size_t>(static_cast<unsigned char>(ext[0])) << 8 |
                    static_cast<unsigned char>(ext[1]);
      size_t n = static_cast<size_t>(static_cast<unsigned char>(ext[3])) << 8 |
                 static_cast<unsigned char>(ext[4]);
      if (5 + n != ext.size() || list != 3 + n || n == 0) // one name, and nothing else
        return fail();
      out.sni = lower(ext.substr(5, n));
      for (char c : out.sni)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'))
          return fail();
    }
    at += len;
  }
  return out;
}

std::string host_npm_registry() {
  std::vector<std::string> files;
  if (const char* home = std::getenv("HOME"))
    files.push_back(std::string(home) + "/.npmrc");
  files.insert(files.end(), {"/usr/etc/npmrc", "/etc/npmrc"});
  for (auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq == std::string::npos)
        continue;
      auto key = line.substr(0, eq);
      key.erase(std::remove(key.begin(), key.end(), ' '), key.end());
      if (key != "registry")
        continue;
      auto url = line.substr(eq + 1);
      url.erase(std::remove(url.begin(), url.end(), ' '), url.end());
      auto scheme = url.find("://");
      auto host = scheme == std::string::npos ? url : url.substr(scheme + 3);
      host = host.substr(0, host.find_first_of("/"));
      if (!host.empty())
        return lower(host);
    }
  }
  return "registry.npmjs.org";
}

std::vector<std::string> default_egress_hosts() {
  auto registry = host_npm_registry();
  if (registry == "registry.npmjs.org")
    return {registry, "registry.yarnpkg.com"};
  return {registry};
}

} // namespace ferry::sandbox
