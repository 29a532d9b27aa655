#pragma once
// The node supervisor's directory: how actors of one node find the role
// actors of any node, and how an operator sees and pokes them.
#include "messages/atoms.hpp"

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

/// One supervised actor as the supervisor sees it.
struct actor_status {
  std::string name; ///< e.g. "cas", "registry"
  std::string node;
  bool alive = false;
  uint32_t restarts = 0;
  int64_t since_ms = 0; ///< when the current incarnation started
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_status& x) {
  return f(caf::meta::type_name("ferry.actor_status"), x.name, x.node, x.alive, x.restarts,
           x.since_ms);
}

/// A node of the cluster as one node sees it.
struct member_status {
  std::string node;
  std::vector<std::string> roles;
  bool up = false;          ///< heard from within the failure timeout (to itself: always)
  uint64_t incarnation = 0; ///< new each time the node's ferryd starts
  int64_t since_ms = 0;     ///< when it last went up or down
  int64_t seen_ms = 0;      ///< its last heartbeat (wall clock of the one who saw it)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_status& x) {
  return f(caf::meta::type_name("ferry.member_status"), x.node, x.roles, x.up, x.incarnation,
           x.since_ms, x.seen_ms);
}

/// One actor of the cluster and the node it runs on.
struct located_actor {
  std::string node;
  caf::actor actor;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, located_actor& x) {
  return f(caf::meta::type_name("ferry.located_actor"), x.node, x.actor);
}

/// - lookup: the current incarnation of a role actor by name: this node's
///   own if it runs one, else the first live node's (in cluster.conf order)
///   that does; not_found if no node runs it, unavailable while it restarts
///   or when every node that runs it is down.
/// - lookup all: every live incarnation of it, this node's first.
/// - list: every supervised actor of this node and the actors of its peers.
/// - kill: kill one (an operator's fault drill); the supervisor restarts it.
/// - members: every node of the cluster, up or down.
/// - heartbeat: a peer (node, incarnation) is alive; sent by supervisors to
///   each other every failure_timeout / 4.
using directory_actor = caf::typed_actor<
    caf::replies_to<lookup_atom, std::string>::with<caf::actor>,
    caf::replies_to<lookup_atom, all_atom, std::string>::with<std::vector<located_actor>>,
    caf::replies_to<list_atom>::with<std::vector<actor_status>>,
    caf::replies_to<kill_atom, std::string>::with<bool>,
    caf::replies_to<members_atom>::with<std::vector<member_status>>,
    caf::reacts_to<heartbeat_atom, std::string, uint64_t>>;

} // namespace ferry
