#pragma once
// JSON text of documents that may hold untrusted bytes (a build's or a
// function's output, a request path): bytes that are not UTF-8 become
// U+FFFD instead of making nlohmann::json throw.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <string_view>

namespace ferry {

inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// How deep arrays and objects nest in JSON text (outside its strings):
/// nlohmann::json parses any depth, but dumps recursively, so a document
/// from a tenant is dumped only if it is shallow.
inline size_t json_depth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

} // namespace ferry
