#pragma once
// The blob store interface: three calls, backends beside it, decorators on
// top (verifying_blob_store, ...). Implementations are thread-safe.
#include "messages/storage.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// A blob whose bytes live elsewhere (a message, a pack body).
struct blob_view {
  uint8_t ns = 0;
  std::string_view hash;
  std::string_view data;
};

/// Views of every blob of a batch.
std::vector<blob_view> views_of(const std::vector<blob>& blobs);

class blob_store {
public:
  virtual ~blob_store() = default;

  /// The bytes of one blob; not_found if absent.
  virtual caf::expected<std::string> get(const blob_ref& ref) = 0;

  /// Stores a batch atomically and durably (synced) before returning.
  virtual caf::expected<put_ack> put(const std::vector<blob_view>& blobs) = 0;

  /// Stores a batch as put does, for the repairer: a copy that nobody
  /// counts on, so a sweep may take it like any unreferenced blob (put and
  /// find_missing mark what they see as wanted now; this does not).
  virtual caf::expected<put_ack> put_copy(const std::vector<blob_view>& blobs) {
    return put(blobs);
  }

  /// Indices of the refs that are not stored.
  virtual caf::expected<std::vector<uint32_t>> find_missing(const std::vector<blob_ref>& refs) = 0;

  /// Stores size bytes read from fd (a file namespace only) and names them
  /// by their hash, which it returns. This one reads them into memory;
  /// a backend that can streams them (never whole in memory).
  virtual caf::expected<std::string> put_file(uint8_t ns, int fd, uint64_t size);

  /// The hashes (hex, in order) of the blobs of namespace ns whose hash's
  /// first byte is in [first, last]: how the repairer walks a replica a
  /// slice at a time. Only a backend lists; others say unsupported.
  virtual caf::expected<std::vector<std::string>> list_range(uint8_t ns, uint8_t first,
                                                             uint8_t last);

  /// Garbage collection: deletes every blob that is not in live and that no
  /// put or `missing` counted on within grace, then reclaims the space of
  /// segments that hold little or nothing live. Refused until the store
  /// has been open for grace (it must have seen every upload in flight).
  virtual caf::expected<sweep_report> sweep(const std::vector<blob_ref>& live,
                                            std::chrono::seconds grace);
};

using blob_store_ptr = std::shared_ptr<blob_store>;

/// Opens (creating if needed) the RocksDB store in dir.
caf::expected<blob_store_ptr> open_rocksdb_blob_store(const std::string& dir);

/// Adds verification: every blob is checked against its name on put and on
/// get, and a directory node must parse and name only stored content.
/// With whole_trees false, only names are checked (a replica of the
/// cluster's store: a node's children may be on other nodes).
blob_store_ptr make_verifying_blob_store(blob_store_ptr inner, bool whole_trees = true);

/// Parses a blob pack (see messages/storage.hpp, blob_pack) into views of
/// its bytes. Returns "" or the reason; truncated is set if the body ends
/// inside a record.
std::string parse_blob_pack(std::string_view body, std::vector<blob_view>& out,
                            std::vector<std::string>& hashes, bool& truncated,
                            uint8_t max_ns = static_cast<uint8_t>(blob_ns::tree));

/// Walks a stored tree from its root: every directory node present and
/// valid, every symlink inside the tree. Counts files, bytes and dirs; with
/// seen, lists every node and file blob it names.
caf::expected<tree_stats> walk_tree(blob_store& store, const std::string& root,
                                    uint8_t tree_ns = static_cast<uint8_t>(blob_ns::tree),
                                    std::vector<blob_ref>* seen = nullptr);

} // namespace ferry
