#pragma once
// JSON text of documents that may hold untrusted bytes (a build's or a
// function's output, a request path): bytes that are not UTF-8 become
// U+FFFD instead of making nlohmann::json throw.
#include <nlohmann/json.hpp>

#include <string>

namespace ferry {

inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace ferry
