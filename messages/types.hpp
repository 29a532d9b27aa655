#pragma once
#include <caf/actor_system_config.hpp>

namespace ferry {
/// Registers every message type and ferry's error category with a config.
/// Every node calls this, so any role can live on any node.
void register_types(caf::actor_system_config& cfg);
} // namespace ferry
