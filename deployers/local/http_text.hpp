#pragma once
// Text of HTTP requests as the router handles it: untrusted bytes, so
// each function takes any input (fuzzed: tests/fuzz, target router_text).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::runtime {

/// "/a%20b" -> "/a b"; false if an escape is malformed, or a NUL is in
/// it or decoded from it.
bool percent_decode(std::string_view in, std::string& out);

/// The length of the valid UTF-8 sequence at the start of s, or 0.
size_t utf8_length(std::string_view s);

/// Appends s as the contents of a JSON string: quotes and backslashes
/// escaped, control characters as \u00XX, bytes that are not UTF-8 as
/// U+FFFD (a request path may hold any byte; a log line must stay JSON).
void json_escape(std::string& out, std::string_view s);

/// The forms a secret value takes in a function's output: as it is,
/// JSON-escaped (JSON.stringify), URL-encoded (encodeURIComponent and form
/// encoding, upper- and lower-case hex). Each distinct, raw first.
std::vector<std::string> secret_forms(std::string_view value);

/// Replaces every occurrence of each form in text with "[secret]".
void mask(std::string& text, const std::vector<std::string>& forms);

/// A function's Set-Cookie header value without a Domain attribute broader
/// than (or other than) host: tenants share the parent domain, so a cookie
/// stays on the host that set it. changed tells whether one was dropped.
std::string scope_cookie(std::string_view set_cookie, std::string_view host, bool& changed);

} // namespace ferry::runtime
