#pragma once
// The slot manager of a build node: a pool of slot directories under
// DATA/slots, kept wiped and ready. Wiping (rm -rf of a build's leftovers)
// blocks, so it runs in a detached wiper per release.
//
//   slot: ready --acquire--> busy --release--> wiping --ok--> ready
//                             |                   |--fail--> replaced by a fresh directory
//                             +--holder died--> wiping (a lease never outlives its holder)
#include "messages/build.hpp"

#include <caf/actor_system.hpp>

#include <caf/actor_addr.hpp>

#include <map>
#include <string>
#include <vector>

namespace ferry {

struct slot_manager_state {
  std::string base;
  std::vector<uint32_t> ready;
  std::map<uint32_t, caf::actor_addr> busy; ///< slot -> who holds it (monitored)
  uint32_t generation = 0;                  ///< bumps directory names of replaced slots
  static inline const char* name = "slot_manager";
};

/// Spawns a manager of `slots` slots under base (created and wiped now).
slot_manager_actor spawn_slot_manager(caf::actor_system& sys, std::string base, uint32_t slots);

} // namespace ferry
