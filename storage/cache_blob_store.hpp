#pragma once
// A bounded cache of blobs on local disk, for a node without the storage
// role: what it reads from the storage nodes stays here, least recently
// used first out once the cache passes its size. One file per blob in one
// directory, emptied on open (a cache need not survive a restart, so
// nothing here is synced). Thread-safe.
#include "storage/blob_store.hpp"

#include <cstdint>
#include <string>

namespace ferry {

struct cache_stats {
  uint64_t bytes = 0, blobs = 0, hits = 0, misses = 0, evicted = 0;
};

/// Opens (emptying) the cache in dir, which holds at most max_bytes.
caf::expected<blob_store_ptr> open_cache_blob_store(const std::string& dir, uint64_t max_bytes);

/// The figures of a cache made by open_cache_blob_store (else zeros).
cache_stats stats_of_cache(const blob_store& store);

} // namespace ferry
