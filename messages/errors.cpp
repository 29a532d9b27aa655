#include "messages/errors.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace ferry {

caf::atom_value error_category() {
  return caf::atom("ferry");
}

std::string_view to_string(ec code) {
  switch (code) {
    case ec::ok: return "ok";
    case ec::bad_request: return "bad_request";
    case ec::bad_path: return "bad_path";
    case ec::bad_symlink: return "bad_symlink";
    case ec::bad_file_type: return "bad_file_type";
    case ec::hash_mismatch: return "hash_mismatch";
    case ec::truncated_body: return "truncated_body";
    case ec::too_large: return "too_large";
    case ec::missing_blobs: return "missing_blobs";
    case ec::not_found: return "not_found";
    case ec::conflict: return "conflict";
    case ec::unauthorized: return "unauthorized";
    case ec::forbidden: return "forbidden";
    case ec::corrupt: return "corrupt";
    case ec::storage_error: return "storage_error";
    case ec::unavailable: return "unavailable";
  }
  return "unknown";
}

int http_status(ec code) {
  switch (code) {
    case ec::ok: return 200;
    case ec::bad_request:
    case ec::bad_path:
    case ec::bad_symlink:
    case ec::bad_file_type:
    case ec::hash_mismatch:
    case ec::truncated_body: return 400;
    case ec::too_large: return 413;
    case ec::missing_blobs:
    case ec::conflict: return 409;
    case ec::not_found: return 404;
    case ec::unauthorized: return 401;
    case ec::forbidden: return 403;
    case ec::corrupt:
    case ec::storage_error: return 500;
    case ec::unavailable: return 503;
  }
  return 500;
}

caf::error make_error(ec code, std::string reason) {
  return caf::error{static_cast<uint8_t>(code), error_category(),
                    caf::make_message(std::move(reason))};
}

ec code_of(const caf::error& e) {
  if (!e)
    return ec::ok;
  if (e.category() == error_category())
    return static_cast<ec>(e.code());
  return ec::unavailable;
}

std::string reason_of(const caf::error& e) {
  if (e.category() == error_category() && e.context().match_elements<std::string>())
    return e.context().get_as<std::string>(0);
  if (e.category() == caf::atom("system")) {
    if (static_cast<caf::sec>(e.code()) == caf::sec::request_timeout)
      return "a role did not answer in time";
    return "a role is unavailable: " + caf::to_string(static_cast<caf::sec>(e.code()));
  }
  return "internal error";
}

} // namespace ferry
