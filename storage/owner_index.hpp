#pragma once
// Who may use which blobs. The store keeps every blob's bytes once, whoever
// uploads them; this index records which users hold which blobs (uploaded,
// with their bytes, or made on their behalf), so that a user can seal, read
// or learn of (through /v1/missing) only its own: knowing another tenant's
// hash is not enough to deploy, read or even confirm its content.
#include "messages/storage.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <vector>

namespace ferry {

class owner_index {
public:
  virtual ~owner_index() = default;
  /// Records (synced) that owner holds these blobs.
  virtual caf::error grant(const std::string& owner, const std::vector<blob_ref>& refs) = 0;
  /// Indices of the refs that owner does not hold.
  virtual caf::expected<std::vector<uint32_t>> not_held(const std::string& owner,
                                                        const std::vector<blob_ref>& refs) = 0;
};

using owner_index_ptr = std::shared_ptr<owner_index>;

/// Opens (creating if needed) the index in its own RocksDB directory.
caf::expected<owner_index_ptr> open_owner_index(const std::string& dir);

} // namespace ferry
