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

/// - lookup: the current incarnation of a role actor by name; not_found if
///   this node does not run it, unavailable while it restarts.
/// - list: every supervised actor of this node.
/// - kill: kill one (an operator's fault drill); the supervisor restarts it.
using directory_actor =
    caf::typed_actor<caf::replies_to<lookup_atom, std::string>::with<caf::actor>,
                     caf::replies_to<list_atom>::with<std::vector<actor_status>>,
                     caf::replies_to<kill_atom, std::string>::with<bool>>;

} // namespace ferry
