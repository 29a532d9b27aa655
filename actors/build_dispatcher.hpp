#pragma once
// The build dispatcher (the api node's "builds"): places each build on a
// build node of the cluster and routes questions about a build to the node
// that runs it. Every build node runs its own scheduler ("builder") with
// its slots, log store and queue.
//
//   build:  asks every live builder its load; the build goes to the node
//           with a free slot that built the project last (its dependency
//           cache is there), else to the least loaded one.
//   down:   a builder that dies (its node killed, or down for the failure
//           timeout) loses its unfinished builds: each goes to another node,
//           at most 3 attempts, the log of each saying why it runs again.
//   get, cancel, logs: the node that runs the build, else every builder.
//   list:   every builder's builds of a version.
#include "actors/node_supervisor.hpp"
#include "messages/build.hpp"

#include <caf/actor_system.hpp>

#include <map>
#include <string>

namespace ferry {

using build_dispatcher_actor =
    build_scheduler_actor::extend<caf::reacts_to<members_atom, std::vector<member_status>>,
                                  caf::reacts_to<tick_atom>>;

struct placement {
  build_spec spec;
  std::string node;
  caf::actor builder;
  uint32_t attempt = 1;
};

struct build_dispatcher_state {
  build_dispatcher_state() =
      default; // (not an aggregate: CAF would build it from the self pointer)
  supervisor_actor supervisor;
  std::map<std::string, placement> placed; ///< build id -> where, until seen ended
  /// a build lost with its node -> the build placed in its stead (its
  /// questions go there: who follows the old one follows the new)
  std::map<std::string, std::string> moved;
  uint64_t ticks = 0;
  std::map<std::string, std::string> last_node; ///< project -> the node that built it last
  static inline const char* name = "build_dispatcher";
};

build_dispatcher_actor spawn_build_dispatcher(caf::actor_system& sys, supervisor_actor supervisor);

} // namespace ferry
