#pragma once
// The cluster's blob store as one node uses it: every blob on R storage
// nodes, chosen by rendezvous hashing over the storage nodes of
// cluster.conf, so that adding a node moves about 1/N of the blobs.
//
//   put:   to the first R storage nodes that are up, in the blob's rank
//          order; acknowledged once all R have it synced. A node that fails
//          mid-way is replaced by the next in rank order; with fewer than R
//          up, the write waits (write_timeout), then fails, or succeeds with
//          min_replicas copies and is counted as under-replicated.
//   get:   this node's replica first (a storage node), else its cache (a
//          node without storage), then every up storage node in rank order.
//   missing: a blob is stored when one of its first R up nodes has it
//          (a copy short of R is the repairer's to restore).
//
// Remote replicas are the "store" actors of the other storage nodes, found
// through their node's directory (cluster_view). Blocking: call it from a
// thread that may wait (the cas workers, build and runtime threads).
#include "actors/cluster_view.hpp"
#include "storage/blob_store.hpp"

#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

struct replication_options {
  uint32_t replicas = 2;     ///< copies of a blob (every storage node if there are fewer)
  uint32_t min_replicas = 0; ///< copies a write settles for after write_timeout (0: replicas)
  std::chrono::milliseconds write_timeout{10000};
  std::chrono::milliseconds request_timeout{2000}; ///< one request to one node
};

/// The storage nodes ranked for one blob: highest rendezvous score first.
std::vector<std::string> rank_nodes(const std::vector<std::string>& nodes, uint8_t ns,
                                    std::string_view hash);

struct replication_stats {
  uint64_t under_replicated = 0; ///< writes that settled for fewer than R copies
  uint64_t remote_puts = 0, remote_gets = 0, failovers = 0;
};

/// local: this node's own replica (storage role) or null; cache: a bounded
/// store of blobs read from elsewhere (a node without storage) or null.
blob_store_ptr make_replicated_blob_store(caf::actor_system& sys, cluster_view_ptr view,
                                          blob_store_ptr local, blob_store_ptr cache,
                                          replication_options opts);

/// The figures of a store made by make_replicated_blob_store (else zeros).
replication_stats stats_of(const blob_store& store);

} // namespace ferry
