#pragma once
// Text of HTTP requests as the router handles it: untrusted bytes, so
// each function takes any input (fuzzed: tests/fuzz, target router_text).
#include <cstddef>
#include <string>
#include <string_view>

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

} // namespace ferry::runtime
