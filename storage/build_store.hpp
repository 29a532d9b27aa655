#pragma once
// Builds and their logs, kept by build id and sequence number in RocksDB
// (Cap'n Proto records), so that a restart of the node loses neither.
// Status changes are synced; log lines are written unsynced and synced with
// the next status change.
#include "messages/build.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

struct stored_build {
  build_status status;
  build_spec spec;
};

class build_store {
public:
  static caf::expected<std::unique_ptr<build_store>> open(const std::string& dir);
  virtual ~build_store() = default;
  virtual caf::error put(const stored_build& b) = 0;
  virtual caf::error append(const std::string& id, const log_line& line) = 0;
  virtual caf::expected<std::vector<stored_build>> all() = 0;
  /// Deletes a build's log (its record stays).
  virtual caf::error drop_log(const std::string& id) = 0;
  /// A build's log lines from number from on: as many as fit in max_bytes
  /// of text (at least one, if there is one).
  virtual caf::expected<std::vector<log_line>> lines(const std::string& id, uint64_t from,
                                                     uint64_t max_bytes = UINT64_MAX) = 0;
};

} // namespace ferry
