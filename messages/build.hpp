#pragma once
// The build role: a scheduler that queues builds and runs each in a slot of
// the node's slot manager. A build is one run of the pipeline of builders/
// over one sealed version; its log is kept by build id and sequence number.
//
//   queued --slot--> building --ok--> built
//      |                 |-----fail--> failed
//      +--cancel--> canceled <--cancel--+
#include "messages/atoms.hpp"

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using logs_atom = caf::atom_constant<caf::atom("logs")>;
using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using line_atom = caf::atom_constant<caf::atom("line")>;
using load_atom = caf::atom_constant<caf::atom("load")>;

/// What to build: a sealed version's tree.
struct build_spec {
  std::string version_id;
  std::string project;
  std::string source_root;
  bool no_cache = false;
  std::string note; ///< a line for the top of the build's log (why it runs again, say)
  std::string user; ///< who made the version: the build's requests are in its name
};

/// The builds of one build node: its slots, and the builds it runs and holds.
struct build_load {
  uint32_t slots = 0;
  uint32_t running = 0;
  uint32_t queued = 0;
};

/// A build as reported to clients.
struct build_status {
  std::string id;
  std::string version_id;
  std::string project;
  std::string state; ///< queued, building, built, failed, canceled
  std::string artifact_root;
  uint64_t artifact_files = 0;
  uint64_t artifact_bytes = 0;
  std::string error;
  int64_t queued_ms = 0;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  uint64_t log_lines = 0;
  uint64_t slot_acquire_us = 0; ///< how long the slot manager took to lend a slot
  std::string node;             ///< the node that runs it
};

/// One line of a build log; stream 1 stdout, 2 stderr, 0 ferry's own.
struct log_line {
  uint64_t seq = 0;
  int64_t ms = 0;
  uint8_t stream = 0;
  std::string text;
};

/// A slot lent to one build: status "ok" with a directory, or why not.
struct slot_lease {
  std::string status; ///< ok, pool_exhausted
  uint32_t slot = 0;
  std::string dir;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, build_spec& x) {
  return f(caf::meta::type_name("ferry.build_spec"), x.version_id, x.project, x.source_root,
           x.no_cache, x.note, x.user);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, build_load& x) {
  return f(caf::meta::type_name("ferry.build_load"), x.slots, x.running, x.queued);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, build_status& x) {
  return f(caf::meta::type_name("ferry.build_status"), x.id, x.version_id, x.project, x.state,
           x.artifact_root, x.artifact_files, x.artifact_bytes, x.error, x.queued_ms, x.started_ms,
           x.finished_ms, x.log_lines, x.slot_acquire_us, x.node);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_line& x) {
  return f(caf::meta::type_name("ferry.log_line"), x.seq, x.ms, x.stream, x.text);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slot_lease& x) {
  return f(caf::meta::type_name("ferry.slot_lease"), x.status, x.slot, x.dir);
}

/// The slot manager of one build node: a pool of slot directories kept
/// ready. acquire answers at once: a lease, or status pool_exhausted;
/// release wipes the slot (replacing it if it cannot be wiped) and returns it.
/// (done: from its wipers, a slot is clean again, or broken.)
using slot_manager_actor = caf::typed_actor<caf::replies_to<acquire_atom>::with<slot_lease>,
                                            caf::reacts_to<release_atom, uint32_t>,
                                            caf::reacts_to<done_atom, uint32_t, bool>>;

/// The build scheduler:
/// - build: queue a build of a sealed version; a version already queued or
///   building is not built twice (the running build is answered).
/// - get: one build; not_found.
/// - cancel: stop a queued or running build (state canceled); conflict if it ended.
/// - logs: the lines of a build from a sequence number on.
/// - list: the builds of one version, newest last.
/// - load: its slots and the builds it runs and holds queued.
/// (line and done: from its runners, a log line and the end of a build;
/// acquire: a reminder to itself to look for a free slot.)
using build_scheduler_actor = caf::typed_actor<
    caf::replies_to<build_atom, build_spec>::with<build_status>,
    caf::replies_to<get_atom, std::string>::with<build_status>,
    caf::replies_to<cancel_atom, std::string>::with<build_status>,
    caf::replies_to<logs_atom, std::string, uint64_t>::with<std::vector<log_line>>,
    caf::replies_to<list_atom, std::string>::with<std::vector<build_status>>,
    caf::replies_to<load_atom>::with<build_load>, caf::reacts_to<line_atom, std::string, log_line>,
    caf::reacts_to<done_atom, std::string, build_status>, caf::reacts_to<acquire_atom>>;

} // namespace ferry
