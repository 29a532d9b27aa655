// The text and the fields of the router's HTTP: pages of its own, request
// ids, hop-by-hop fields, message heads, cookies of functions.
#include "deployers/local/router_http.hpp"

#include "deployers/local/http_text.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <chrono>

#include <sys/random.h>
#include <time.h>

namespace ferry::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;

/// Milliseconds of the coarse monotonic clock (a few ms of resolution, and
/// cheaper to read per request): deadlines are checked every 50 ms anyway.
int64_t steady_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

response error_page(unsigned status, const std::string& code, const std::string& message) {
  response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("x-ferry-error", code);
  res.body() = std::to_string(status) + ": " + code + "\n" + message + "\n";
  return res;
}

/// A 5xx page: what failed and the request's id, never why (the why, which
/// may hold a function's secrets, goes to its owner's runtime log under the
/// same id).
response server_error(unsigned status, const std::string& code, const std::string& what,
                      const std::string& request_id) {
  return error_page(status, code, what + "\nrequest id: " + request_id);
}

/// A request's id: 16 hex digits, random enough to find its log lines.
std::string new_request_id() {
  thread_local uint64_t state = [] {
    uint64_t seed = 0;
    if (::getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed))
      seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return seed;
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL); // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  static const char hex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, z >>= 4)
    id[static_cast<size_t>(i)] = hex[z & 15];
  return id;
}

/// Whether a response with this status carries a body (and so a length).
bool has_body(unsigned status) {
  return status / 100 != 1 && status != 204 && status != 304;
}

bool is_hop_by_hop(http::field f) {
  return f == http::field::connection || f == http::field::keep_alive ||
         f == http::field::proxy_connection || f == http::field::te || f == http::field::trailer ||
         f == http::field::transfer_encoding || f == http::field::upgrade;
}

void strip_hop_by_hop(http::fields& h) {
  // the fields a Connection header names are hop-by-hop too
  std::vector<std::string> named;
  for (auto it = h.find(http::field::connection);
       it != h.end() && it->name() == http::field::connection; ++it)
    for (auto token : http::token_list{it->value()})
      if (!beast::iequals(token, "close") && !beast::iequals(token, "keep-alive"))
        named.emplace_back(token.data(), token.size());
  for (auto& n : named)
    h.erase(n);
  for (auto it = h.begin(); it != h.end();) {
    if (is_hop_by_hop(it->name()))
      it = h.erase(it);
    else
      ++it;
  }
}

/// Appends a message's head as HTTP/1.1 text: the start line, the fields
/// and the blank line. (Written as one buffer with the body: cheaper per
/// request than Beast's serializer of buffer sequences.)
void append(std::string& out, beast::string_view v) {
  out.append(v.data(), v.size());
}

void append_fields(std::string& out, const http::fields& fields) {
  for (auto& f : fields) {
    append(out, f.name_string());
    out += ": ";
    append(out, f.value());
    out += "\r\n";
  }
  out += "\r\n";
}

void append_head(std::string& out, const response& res) {
  out += "HTTP/1.1 ";
  out += std::to_string(res.result_int());
  out += ' ';
  append(out, res.reason());
  out += "\r\n";
  append_fields(out, res.base());
}

void append_head(std::string& out, const request& req) {
  append(out, req.method_string());
  out += ' ';
  append(out, req.target());
  out += " HTTP/1.1\r\n";
  append_fields(out, req.base());
}

/// The answer to a request that could not be read, or nullopt for one
/// the client gave up.
std::optional<response> read_error(const boost::system::error_code& ec) {
  if (ec == http::error::body_limit)
    return error_page(413, "REQUEST_TOO_LARGE", "the request's body is over the router's limit");
  if (ec == http::error::header_limit)
    return error_page(431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
                      "the request's header is over the router's limit");
  if (ec != http::error::end_of_stream && ec != asio::error::eof &&
      ec != asio::error::connection_reset && ec != http::error::partial_message &&
      ec != asio::error::bad_descriptor && ec != asio::error::broken_pipe &&
      ec != asio::error::operation_aborted && ec != asio::error::shut_down)
    return error_page(400, "BAD_REQUEST", "malformed HTTP request");
  return std::nullopt;
}

/// A request's Host, lower case, without its port; empty if it has none.
std::string host_of(const request& req) {
  std::string host(req[http::field::host]);
  if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(']') == host.npos) {
    // (a port is digits: "name:1@elsewhere" names no host)
    auto port = std::string_view(host).substr(colon + 1);
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return {};
    host.resize(colon);
  }
  for (auto& c : host)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return host;
}

/// Drops the Domain of a function's cookies that is broader than (or
/// other than) the request's host: projects share the cluster's domain.
void scope_cookies(response& res, const std::string& host) {
  if (res.find(http::field::set_cookie) == res.end())
    return;
  std::vector<std::string> cookies;
  bool any = false;
  for (auto it = res.find(http::field::set_cookie);
       it != res.end() && it->name() == http::field::set_cookie; ++it) {
    bool changed = false;
    cookies.push_back(
        scope_cookie(std::string_view(it->value().data(), it->value().size()), host, changed));
    any = any || changed;
  }
  if (!any)
    return;
  res.erase(http::field::set_cookie);
  for (auto& c : cookies)
    res.insert(http::field::set_cookie, c);
}

/// Readies a client's request for the instance: hop-by-hop headers (and
/// those Connection names) and forwarding headers a client could forge
/// removed, ours set. An error page if it cannot be forwarded.
std::optional<response> prepare_upstream_request(request& req, const std::string& peer,
                                                 const std::string& request_id, const deployment& d,
                                                 const std::string& host) {
  std::string original_host(req[http::field::host]); // (Connection may name it: it stays)
  strip_hop_by_hop(req.base());
  req.set(http::field::host, original_host);
  for (auto f : {"forwarded", "x-real-ip", "expect"}) // the router read the whole body already
    req.erase(f);
  if (peer.empty()) // (an answer for everybody: nobody's address)
    req.erase("x-forwarded-for");
  else
    req.set("x-forwarded-for", peer);
  req.set("x-forwarded-host", host);
  req.set("x-forwarded-proto", "http");
  req.set("x-ferry-deployment", d.id);
  req.set("x-ferry-request-id", request_id);
  req.keep_alive(true);
  try {
    req.prepare_payload();
  } catch (const std::invalid_argument&) { // TRACE with a body, say
    return error_page(400, "BAD_REQUEST", "this request cannot carry a body");
  }
  return std::nullopt;
}
} // namespace ferry::runtime
