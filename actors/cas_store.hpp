#pragma once
// The cas store actor of a storage node: a front that spreads requests over
// a few detached workers, so blocking RocksDB calls never run on the
// scheduler's threads and concurrent synced writes share a group commit.
#include "messages/storage.hpp"
#include "storage/blob_store.hpp"
#include "storage/owner_index.hpp"

namespace ferry {

struct cas_state {
  std::vector<cas_actor> workers;
  size_t next = 0;
  static inline const char* name = "cas";
};

/// Spawns `workers` detached, linked workers over the (verifying) store and
/// the index of who holds which blob.
cas_actor::behavior_type cas_store(cas_actor::stateful_pointer<cas_state> self,
                                   blob_store_ptr store, owner_index_ptr owners, size_t workers);

/// Spawns the cas store (keeps the template weight in one TU).
cas_actor spawn_cas_store(caf::actor_system& sys, blob_store_ptr store, owner_index_ptr owners,
                          size_t workers);

} // namespace ferry
