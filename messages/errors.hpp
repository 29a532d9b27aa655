#pragma once
// ferry's error codes. Each code is stable: the HTTP API sends its name as
// the "code" of an error body, and callers react to it.
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry {

enum class ec : uint8_t {
  ok = 0,
  bad_request,    ///< malformed input; the message says what
  bad_path,       ///< a path with "..", absolute, empty, NUL, duplicate, ...
  bad_symlink,    ///< a symlink that points outside the tree
  bad_file_type,  ///< a device, FIFO or socket in a tree
  hash_mismatch,  ///< a body whose SHA-256 differs from its name
  truncated_body, ///< fewer bytes than announced
  too_large,      ///< a body or request over its limit
  missing_blobs,  ///< a manifest or tree names content that is not stored
  not_found,      ///< no such project, version or blob
  conflict,       ///< the object exists or is in the wrong state (e.g. sealed)
  unauthorized,   ///< no token or an unknown token
  forbidden,      ///< a valid token without rights on this object
  corrupt,        ///< stored bytes no longer match their hash
  storage_error,  ///< the disk or database failed
  unavailable,    ///< a role is not reachable right now
};

/// The category atom of ferry errors ("ferry").
caf::atom_value error_category();

/// Stable name of a code, e.g. "hash_mismatch".
std::string_view to_string(ec code);

/// HTTP status for a code (4xx for the caller's faults, 5xx for ours).
int http_status(ec code);

/// A ferry error with a one-line reason.
caf::error make_error(ec code, std::string reason);

/// The code of an error of any category (unavailable for CAF's own, e.g. timeouts).
ec code_of(const caf::error& e);

/// The one-line reason carried by a ferry error, or CAF's rendering.
std::string reason_of(const caf::error& e);

} // namespace ferry
