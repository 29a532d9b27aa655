#pragma once
// The node supervisor: starts the role actors of one node, monitors them,
// restarts a crashed one with exponential backoff while the rest of the node
// keeps serving, keeps the node's view of the cluster (heartbeats to and
// from every peer), and answers directory lookups for local and remote roles.
//
//   child:  running --down--> waiting (backoff 100 ms .. 5 s) --restart--> running
//   peer:   connecting --ok--> connected, up --no heartbeat for the failure
//           timeout, or connection lost--> down --heartbeat--> up
//           (connections are retried every 500 ms)
//   One connection per pair of nodes: a node dials the peers listed before
//   it in cluster.conf and learns the others' directories from their
//   heartbeats (two TLS handshakes crossing made CAF 0.17 drop both).
#include "actors/cluster_view.hpp"
#include "messages/node.hpp"

#include <caf/actor.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ferry {

using peer_atom = caf::atom_constant<caf::atom("peer")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

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
  bool dial = true; ///< this node connects; else it waits for the peer's heartbeat
  bool connecting = false;
  std::string last_error; ///< why the last connection attempt failed (logged once)
};

struct supervisor_options {
  int64_t failure_timeout_ms = 2000; ///< a peer unheard of this long is down
};

struct supervisor_state {
  std::string node;
  uint64_t incarnation = 0;
  std::vector<child_spec> children;
  std::vector<peer_spec> peers;
  cluster_view_ptr view;
  supervisor_options opts;
  std::vector<caf::actor> subscribers;
  static inline const char* name = "node_supervisor";
};

/// Also: restart (a child, after its backoff), peer (connect again), tick
/// (heartbeats out, timeouts checked), subscribe (a local actor gets
/// `members_atom, std::vector<member_status>` on every change of a node).
using supervisor_actor =
    directory_actor::extend<caf::reacts_to<restart_atom, std::string>,
                            caf::reacts_to<peer_atom, std::string>, caf::reacts_to<tick_atom>,
                            caf::reacts_to<subscribe_atom, caf::actor>>;

/// view holds every node of cluster.conf (this one too) and is kept
/// current by the supervisor.
supervisor_actor spawn_node_supervisor(caf::actor_system& sys, std::string node,
                                       std::vector<child_spec> children,
                                       std::vector<peer_spec> peers, cluster_view_ptr view,
                                       supervisor_options opts = {});

supervisor_actor::behavior_type node_supervisor(
    supervisor_actor::stateful_pointer<supervisor_state> self, std::string node,
    std::vector<child_spec> children, std::vector<peer_spec> peers, cluster_view_ptr view,
    supervisor_options opts);

} // namespace ferry
