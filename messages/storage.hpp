#pragma once
// The storage role: a content-addressed store of blobs named by the SHA-256
// of their bytes. Every reply is either the answer or a ferry error (see
// errors.hpp); nothing is acknowledged before it is on disk.
#include "messages/atoms.hpp"

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

/// Namespaces of the store. Source files, their directory nodes, build
/// outputs and the directory nodes of outputs are apart, so that a file can
/// never pass for a directory, nor an upload for a build output. Each tree
/// namespace names files in the namespace just below it.
enum class blob_ns : uint8_t { source = 0, tree = 1, output = 2, output_tree = 3 };

/// Number of namespaces.
constexpr uint8_t blob_ns_count = 4;

/// True for the namespaces of directory nodes.
constexpr bool is_tree_ns(uint8_t ns) {
  return ns == 1 || ns == 3;
}

/// A reference to a blob: namespace and lower-case hex SHA-256.
struct blob_ref {
  uint8_t ns = 0;
  std::string hash;
};

/// A blob with its bytes.
struct blob {
  uint8_t ns = 0;
  std::string hash;
  std::string data;
};

/// Store all blobs or none. Each is verified against its name; a directory
/// node must parse and name only content that is stored (or earlier in the
/// same batch). Fails with hash_mismatch, bad_path, missing_blobs, storage_error.
/// With an owner (a user), the user holds them afterwards (owner_index).
struct put_blobs {
  std::vector<blob> blobs;
  std::string owner;
  bool copy = false; ///< the repairer's copy: counts on nothing (blob_store::put_copy)
};

/// Store the blobs of a pack (POST /v1/blobs) as put_blobs does, parsed by
/// the store itself so that the bytes are never copied on the way. Records:
///   1 byte namespace (0 source, 1 tree) | 32 bytes raw SHA-256 |
///   8 bytes little-endian length | bytes
/// Also fails with truncated_body if a record is cut short.
struct blob_pack {
  std::string bytes;
  uint8_t max_ns = 1; ///< the highest namespace the sender may write (clients: tree)
  std::string owner;  ///< as in put_blobs
};

/// Acknowledges a put after a synced write.
struct put_ack {
  uint64_t stored = 0; ///< blobs that were new
  uint64_t bytes = 0;  ///< bytes of the new blobs
};

/// Which of these references are not stored; with an owner, also those the
/// owner does not hold (to a user, another's blob is as good as absent).
struct find_missing {
  std::vector<blob_ref> refs;
  std::string owner;
};

/// Validate and count a stored tree; with an owner, every node and file of
/// it must be the owner's (else missing_blobs).
struct walk_request {
  blob_ref root;
  std::string owner;
};

/// Indices into find_missing::refs of the blobs that are not stored.
struct missing_set {
  std::vector<uint32_t> indices;
};

/// Totals of a complete tree, from a walk of its directory nodes.
struct tree_stats {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t dirs = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, blob_ref& x) {
  return f(caf::meta::type_name("ferry.blob_ref"), x.ns, x.hash);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, blob& x) {
  return f(caf::meta::type_name("ferry.blob"), x.ns, x.hash, x.data);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, put_blobs& x) {
  return f(caf::meta::type_name("ferry.put_blobs"), x.blobs, x.owner, x.copy);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, blob_pack& x) {
  return f(caf::meta::type_name("ferry.blob_pack"), x.bytes, x.max_ns, x.owner);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, put_ack& x) {
  return f(caf::meta::type_name("ferry.put_ack"), x.stored, x.bytes);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, find_missing& x) {
  return f(caf::meta::type_name("ferry.find_missing"), x.refs, x.owner);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, walk_request& x) {
  return f(caf::meta::type_name("ferry.walk_request"), x.root, x.owner);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, missing_set& x) {
  return f(caf::meta::type_name("ferry.missing_set"), x.indices);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tree_stats& x) {
  return f(caf::meta::type_name("ferry.tree_stats"), x.files, x.bytes, x.dirs);
}

/// The content-addressed store of one storage node.
///  - put: store a batch (see put_blobs).
///  - get: the verified bytes of one blob; not_found or corrupt.
///  - missing: which references are absent.
///  - walk: validate a stored tree from its root (every node present, every
///    symlink inside the tree, everything the owner's) and count it;
///    missing_blobs or bad_symlink.
/// What one storage node's sweep did (blob_store::sweep).
struct sweep_report {
  std::string node;
  uint64_t checked = 0;            ///< blobs in its index
  uint64_t deleted = 0;            ///< blobs no kept version names
  uint64_t segments_removed = 0;   ///< segments with nothing left
  uint64_t segments_compacted = 0; ///< segments copied to a new one and removed
  uint64_t bytes_before = 0;       ///< its segments, before and after
  uint64_t bytes_after = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sweep_report& x) {
  return f(caf::meta::type_name("ferry.sweep_report"), x.node, x.checked, x.deleted,
           x.segments_removed, x.segments_compacted, x.bytes_before, x.bytes_after);
}

/// What the registry keeps (the retention rule applied): the trees to
/// mark from.
struct gc_roots {
  std::vector<blob_ref> roots;
  std::vector<blob_ref> caches; ///< of dependency caches: one unreadable is let go
  uint64_t kept = 0;            ///< versions kept
  uint64_t removed = 0;         ///< versions the rule removed now
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gc_roots& x) {
  return f(caf::meta::type_name("ferry.gc_roots"), x.roots, x.caches, x.kept, x.removed);
}

/// One garbage collection of the cluster (GET /v1/admin/gc).
struct gc_summary {
  int64_t started_ms = 0;
  int64_t duration_ms = 0;
  uint64_t versions_kept = 0;    ///< roots marked from: versions kept by the retention rule
  uint64_t versions_removed = 0; ///< versions the retention rule removed this time
  uint64_t live = 0;             ///< blobs those versions name
  std::vector<sweep_report> nodes;
  std::vector<std::string> skipped; ///< storage nodes down (swept next time), and why
  std::string error;                ///< why the collection stopped short, if it did
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gc_summary& x) {
  return f(caf::meta::type_name("ferry.gc_summary"), x.started_ms, x.duration_ms, x.versions_kept,
           x.versions_removed, x.live, x.nodes, x.skipped, x.error);
}

/// What one replica holds of a slice of the blobs that two storage nodes
/// should both hold: their number and the XOR of their hashes (raw, 32
/// bytes). Equal digests: nothing to copy between the two.
struct range_digest {
  uint64_t count = 0;
  std::string xor_hash;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, range_digest& x) {
  return f(caf::meta::type_name("ferry.range_digest"), x.count, x.xor_hash);
}

/// A storage node's repairer as the operator sees it (GET /v1/admin/repair).
struct repair_status {
  std::string node;
  bool running = false;     ///< a pass is under way
  uint64_t passes = 0;      ///< passes finished since ferryd started
  uint32_t ranges_done = 0; ///< slices of the current (or last) pass done
  uint32_t ranges_total = 0;
  uint64_t checked = 0; ///< blobs of this replica looked at, this pass
  uint64_t copied = 0;  ///< blobs copied to another node, this pass
  uint64_t copied_bytes = 0;
  uint64_t copied_total = 0; ///< since ferryd started
  int64_t last_pass_end_ms = 0;
  int64_t last_pass_ms = 0; ///< how long the last pass took
  std::string last_error;   ///< the last peer that could not be repaired, and why
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, repair_status& x) {
  return f(caf::meta::type_name("ferry.repair_status"), x.node, x.running, x.passes, x.ranges_done,
           x.ranges_total, x.checked, x.copied, x.copied_bytes, x.copied_total, x.last_pass_end_ms,
           x.last_pass_ms, x.last_error);
}

/// The repairer of a storage node (actors/repairer.hpp). `gc, live,
/// grace_s, marked_ms` sweeps this node's replica (the collector's live set
/// taken at marked_ms, wall clock). Peers ask it for
/// digests and lists of a slice (namespace, range of 16) of the blobs both
/// should hold; `repair` starts a pass now.
using repairer_actor = caf::typed_actor<
    caf::replies_to<repair_atom, digest_atom, uint8_t, uint8_t, std::string>::with<range_digest>,
    caf::replies_to<repair_atom, list_atom, uint8_t, uint8_t,
                    std::string>::with<std::vector<std::string>>,
    caf::replies_to<repair_atom, status_atom>::with<repair_status>, caf::reacts_to<repair_atom>,
    caf::replies_to<gc_atom, std::vector<blob_ref>, int64_t, int64_t>::with<sweep_report>>;

/// The collector of the API node (actors/collector.hpp): `gc` runs a
/// collection now and answers when it is done; `gc, status` the last one.
using collector_actor = caf::typed_actor<caf::replies_to<gc_atom>::with<gc_summary>,
                                         caf::replies_to<gc_atom, status_atom>::with<gc_summary>>;

using cas_actor = caf::typed_actor<caf::replies_to<put_atom, put_blobs>::with<put_ack>,
                                   caf::replies_to<put_atom, blob_pack>::with<put_ack>,
                                   caf::replies_to<get_atom, blob_ref>::with<blob>,
                                   caf::replies_to<missing_atom, find_missing>::with<missing_set>,
                                   caf::replies_to<walk_atom, walk_request>::with<tree_stats>>;

} // namespace ferry
