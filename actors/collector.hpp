#pragma once
// The collector of the API node: garbage collection of the cluster's blobs.
//
//   1. The registry applies the retention rule (a project keeps its last
//      keep_versions versions, and every version an alias serves, a
//      production history may roll back to, or that is not done) and
//      returns the trees of what it keeps.
//   2. Mark: every blob those trees name (walked through the cluster's
//      store; a tree that cannot be read stops the collection: nothing is
//      deleted on a guess).
//   3. Sweep: each live storage node deletes what is not marked, except
//      what a put or a `missing` counted on within gc_grace_s (an upload in
//      flight), and reclaims the space of its segments (blob_store::sweep).
//      A node that is down is skipped; it is swept next time.
//
// Runs every gc_interval_s and on POST /v1/admin/gc, on a thread of its own.
#include "actors/cluster_view.hpp"
#include "messages/node.hpp"
#include "storage/blob_store.hpp"

#include <caf/fwd.hpp>

#include <chrono>

namespace ferry {

struct collector_options {
  uint32_t keep_versions = 20;
  std::chrono::seconds grace{3600};
  std::chrono::seconds interval{3600};
  std::chrono::milliseconds request_timeout{2000};
};

/// blobs: the cluster's store as this node sees it (for the mark).
caf::actor spawn_collector(caf::actor_system& sys, directory_actor directory, cluster_view_ptr view,
                           blob_store_ptr blobs, collector_options opts);

} // namespace ferry
