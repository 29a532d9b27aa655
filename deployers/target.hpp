#pragma once
// The deploy target interface: what turns a built deployment into something
// that serves. Targets are actors registered by name (the node directory
// knows them); the first is "local", the cluster's own runtime
// (deployers/local), run by every node with the deploy role as the actor
// "runtime". Cloud targets implement the same messages.
//
// - warm: load a deployment and start (and health-check) an instance of
//   each of its functions in an environment (production, preview; empty:
//   the deployment's own); true once it can take traffic.
// - alias (from the registry): a host now points elsewhere (or nowhere).
// - remove: stop serving a deployment.
// - logs: its runtime log from line N on.
// - list: the state of its instances (JSON text, for the console).
#include "messages/atoms.hpp"
#include "messages/registry.hpp"

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

struct log_page {
  std::vector<std::string> lines; ///< JSON lines
  uint64_t next = 0;              ///< the number of the line after them
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_page& x) {
  return f(caf::meta::type_name("ferry.log_page"), x.lines, x.next);
}

using deploy_target_actor =
    caf::typed_actor<caf::replies_to<warm_atom, std::string, std::string>::with<bool>,
                     caf::replies_to<alias_atom, alias_info>::with<bool>,
                     caf::replies_to<remove_atom, std::string>::with<bool>,
                     caf::replies_to<logs_atom, std::string, uint64_t>::with<log_page>,
                     caf::replies_to<list_atom>::with<std::string>, caf::reacts_to<reap_atom>>;

/// The names of the deploy targets ferry knows, and the actor each runs as.
inline const char* target_actor_name(const std::string& target) {
  return target == "local" ? "runtime" : nullptr;
}

} // namespace ferry
