#pragma once
// The local deploy target ("runtime" actor of the deploy role): drives the
// runtime core (deployers/local/runtime.hpp) that the router threads use.
// It subscribes to the registry's alias changes (again whenever the
// registry restarts), ticks the core every second (scale to zero, the pool
// of generic runtimes, log flushes) and answers warm, remove and logs.
// Detached: warming starts processes and waits for their health checks.
#include "deployers/local/runtime.hpp"
#include "deployers/target.hpp"
#include "messages/node.hpp"

#include <caf/actor_system.hpp>

#include <memory>

namespace ferry {

deploy_target_actor spawn_local_target(caf::actor_system& sys, std::shared_ptr<runtime::core> core,
                                       directory_actor directory);

/// A resolver and an environment source for the core that ask the
/// registry, wherever it runs, through the node directory.
runtime::resolver registry_resolver(caf::actor_system& sys, directory_actor directory);
runtime::env_source registry_env_source(caf::actor_system& sys, directory_actor directory);

} // namespace ferry
