#pragma once
// The repairer of a storage node: brings every blob this node holds back
// to R copies on the nodes that should hold it (rendezvous order, as
// replicated_store places them), after a node returns, is added, or comes
// back with an empty disk.
//
// A pass walks this node's replica a slice at a time (namespace x 16
// ranges of the first hash byte). For each slice and each live storage
// peer P it compares digests (count and XOR of hashes) of the blobs that
// both this node and P should hold; only when they differ does it fetch
// P's list of that slice and copy what P lacks. Blobs this node holds but
// should not (written here while a holder was down) are handed to their
// holders that lack them. Copies are rate limited (bytes per second).
// Every peer runs the same pass: each copies what it has to whoever lacks it.
//
// Passes start when a storage node comes up (again, or anew), every
// interval, and on `repair` (POST /v1/admin/repair). The scanning and
// copying run on a thread of the repairer's own; the actor answers peers'
// digest and list requests and the operator's status requests.
#include "actors/cluster_view.hpp"
#include "messages/node.hpp"
#include "messages/storage.hpp"
#include "storage/blob_store.hpp"

#include <caf/fwd.hpp>

#include <chrono>

namespace ferry {

struct repairer_options {
  uint32_t replicas = 2;
  uint64_t bytes_per_s = 64ull << 20; ///< copying at most this fast
  std::chrono::seconds interval{300}; ///< a pass at least this often
  std::chrono::milliseconds request_timeout{2000};
};

/// replica: this node's own store (the RocksDB one, which lists).
caf::actor spawn_repairer(caf::actor_system& sys, directory_actor directory, cluster_view_ptr view,
                          blob_store_ptr replica, repairer_options opts);

/// The slice digest of a set of hashes (hex).
range_digest digest_of(const std::vector<std::string>& hashes);

/// The nodes that should hold a blob: the first R of its rendezvous order.
std::vector<std::string> holders_of(const std::vector<std::string>& storage_nodes,
                                    uint32_t replicas, uint8_t ns, const std::string& hash);

} // namespace ferry
