#pragma once
// The node supervisor: starts the role actors of one node, monitors them,
// restarts a crashed one with exponential backoff while the rest of the node
// keeps serving, and answers directory lookups for local and remote roles.
//
//   child:  running --down--> waiting (backoff 100 ms .. 5 s) --restart--> running
//   peer:   connecting --ok--> connected --down--> connecting (every 500 ms)
#include "messages/node.hpp"

#include <caf/actor.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ferry {

using peer_atom = caf::atom_constant<caf::atom("peer")>;

struct child_spec {
  std::string name;
  std::function<caf::actor(directory_actor)> spawn; ///< given the node's directory
  caf::actor current;
  uint32_t restarts = 0;
  int64_t since_ms = 0;
  int64_t backoff_ms = 0;
};

struct peer_spec {
  std::string node;
  std::string host;
  uint16_t port = 0;
  std::vector<std::string> actors; ///< names this peer runs
  caf::actor directory;
};

struct supervisor_state {
  std::string node;
  std::vector<child_spec> children;
  std::vector<peer_spec> peers;
  static inline const char* name = "node_supervisor";
};

using supervisor_actor = directory_actor::extend<caf::reacts_to<restart_atom, std::string>,
                                                 caf::reacts_to<peer_atom, std::string>>;

supervisor_actor spawn_node_supervisor(caf::actor_system& sys, std::string node,
                                       std::vector<child_spec> children,
                                       std::vector<peer_spec> peers);

supervisor_actor::behavior_type node_supervisor(
    supervisor_actor::stateful_pointer<supervisor_state> self, std::string node,
    std::vector<child_spec> children, std::vector<peer_spec> peers);

} // namespace ferry
