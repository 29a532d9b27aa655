#pragma once
// The text and the fields of the router's HTTP (deployers/local/router.cpp):
// its own pages, request ids, hop-by-hop fields, heads written as one
// buffer, and what it changes in a function's answer.
#include "deployers/local/runtime.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace ferry::runtime {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

/// Milliseconds of the coarse monotonic clock (a few ms of resolution, and
/// cheaper to read per request): deadlines are checked every 50 ms anyway.
int64_t steady_ms();
int64_t wall_ms();

/// A Beast string view as a standard one.
inline std::string_view view(boost::beast::string_view v) {
  return {v.data(), v.size()};
}

/// A page of the router's own (a 4xx).
response error_page(unsigned status, const std::string& code, const std::string& message);
/// A 5xx page: what failed and the request's id, never why (the why, which
/// may hold a function's secrets, goes to its owner's runtime log under the
/// same id).
response server_error(unsigned status, const std::string& code, const std::string& what,
                      const std::string& request_id);
/// A request's id: 16 hex digits, random enough to find its log lines.
std::string new_request_id();

/// Whether a response with this status carries a body (and so a length).
bool has_body(unsigned status);
/// Removes the hop-by-hop fields, and those a Connection field names.
void strip_hop_by_hop(http::fields& h);
/// Appends a message's head as HTTP/1.1 text: the start line, the fields
/// and the blank line.
void append_head(std::string& out, const response& res);
void append_head(std::string& out, const request& req);

/// The answer to a request that could not be read, or nullopt for one the
/// client gave up.
std::optional<response> read_error(const boost::system::error_code& ec);
/// A request's Host, lower case, without its port; empty if it has none.
std::string host_of(const request& req);
/// Drops the Domain of a function's cookies that is broader than (or other
/// than) the request's host: projects share the cluster's domain.
void scope_cookies(response& res, const std::string& host);
/// Readies a client's request for an instance: hop-by-hop fields (and those
/// Connection names) and forwarding fields a client could forge removed,
/// ours set. An error page if it cannot be forwarded.
std::optional<response> prepare_upstream_request(request& req, const std::string& peer,
                                                 const std::string& request_id, const deployment& d,
                                                 const std::string& host);

} // namespace ferry::runtime
