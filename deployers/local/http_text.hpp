#pragma once
// Text of HTTP requests as the router handles it: untrusted bytes, so
// each function takes any input (fuzzed: tests/fuzz, target router_text).
#include <cstddef>
#include <cstdint>
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
/// escaped, control characters as \n, \t... or \u00XX (as JSON.stringify
/// and json_text write them: one form to mask), bytes that are not UTF-8 as
/// U+FFFD (a request path may hold any byte; a log line must stay JSON).
void json_escape(std::string& out, std::string_view s);

/// The forms a secret value takes in a function's output: as it is,
/// JSON-escaped (JSON.stringify), as util.inspect writes it in an object,
/// URL-encoded (encodeURIComponent and form encoding, upper- and lower-case
/// hex); each of those as a JSON log line holds it; and each line of 8+
/// characters of a value of many lines. Each distinct, raw first.
std::vector<std::string> secret_forms(std::string_view value);

/// Replaces every occurrence of each form in text with "[secret]".
void mask(std::string& text, const std::vector<std::string>& forms);

/// The forms of a set of secrets, found in a text in one pass whatever they
/// are (Aho-Corasick: linear in the text; a plain search per form is
/// quadratic for a secret such as 65,000 'A's and a 'B'), and masked: each
/// run of text that forms cover becomes "[secret]".
class masker {
public:
  masker() = default;
  explicit masker(const std::vector<std::string>& forms);
  void mask(std::string& text) const;
  /// The length of the longest end of text that begins a form (a secret a
  /// cut falls in): linear in text.
  size_t open_tail(std::string_view text) const;
  bool empty() const { return nodes_.size() <= 1; }
  size_t bytes() const { return nodes_.size() * sizeof(node) + edges_.size() * 8; }

private:
  struct node {                         // 20 bytes: a masker of 256 KiB of forms takes some 7 MiB
    uint32_t first_edge = 0, edges = 0; ///< its edges in edges_, by byte
    uint32_t fail = 0;
    uint32_t longest = 0; ///< the longest form that ends here (through fail links too)
    uint32_t depth = 0;   ///< the length of the prefix it stands for
  };
  std::vector<node> nodes_{node{}};
  std::vector<std::pair<unsigned char, uint32_t>> edges_;
  uint32_t child(uint32_t state, unsigned char c) const; ///< 0 if none (and not the root's)
};

/// A function's Set-Cookie header value without a Domain attribute broader
/// than (or other than) host: tenants share the parent domain, so a cookie
/// stays on the host that set it. changed tells whether one was dropped.
std::string scope_cookie(std::string_view set_cookie, std::string_view host, bool& changed);

} // namespace ferry::runtime
