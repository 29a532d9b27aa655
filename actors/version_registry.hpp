#pragma once
// The version registry actor: the single writer of metadata (detached: its
// RocksDB writes block). State machine of a version:
//
//   created --seal--> sealed --> (queued -> building -> built -> ... later issues)
//
// Once sealed, nothing about a version's content can change.
#include "messages/registry.hpp"
#include "storage/metadata_store.hpp"

#include <functional>
#include <memory>

namespace ferry {

struct registry_state {
  std::shared_ptr<metadata_store> store;
  std::function<int64_t()> now_ms;
  static inline const char* name = "registry";
};

registry_actor::behavior_type version_registry(
    registry_actor::stateful_pointer<registry_state> self, std::shared_ptr<metadata_store> store,
    std::function<int64_t()> now_ms);

/// Spawns the registry detached (its RocksDB calls block).
registry_actor spawn_version_registry(caf::actor_system& sys, std::shared_ptr<metadata_store> store,
                                      std::function<int64_t()> now_ms);

/// A fresh random token ("fry_" + 40 hex digits) from OpenSSL's CSPRNG.
std::string new_token();

/// Empty if name is a valid project or user name (a DNS label: 1-63 of
/// [a-z0-9-], not starting or ending with '-'), else the reason.
std::string check_project_name(const std::string& name);

} // namespace ferry
