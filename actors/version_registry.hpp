#pragma once
// The version registry actor: the single writer of metadata (detached: its
// RocksDB writes block). State machine of a version:
//
//   created --seal--> sealed --> (queued -> building -> built -> ... later issues)
//
// Once sealed, nothing about a version's content can change.
#include "actors/host_names.hpp"
#include "messages/registry.hpp"
#include "storage/metadata_store.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ferry {

struct registry_options {
  std::string domain = "ferry.localhost";   ///< production aliases are PROJECT.domain
  std::string secret_key;                   ///< 32 bytes: seals environment variables
  uint64_t max_deploy_bytes = 1ULL << 30;   ///< the files of one version
  uint64_t max_project_bytes = 10ULL << 30; ///< the files of a project's versions together
  uint32_t max_projects = 100;              ///< that a user (not an admin) owns
};

struct registry_state {
  std::shared_ptr<metadata_store> store;
  std::function<int64_t()> now_ms;
  registry_options opts;
  std::vector<caf::actor> subscribers; ///< runtimes told of every alias change
  static inline const char* name = "registry";
};

registry_actor::behavior_type version_registry(
    registry_actor::stateful_pointer<registry_state> self, std::shared_ptr<metadata_store> store,
    std::function<int64_t()> now_ms, registry_options opts);

/// Spawns the registry detached (its RocksDB calls block).
registry_actor spawn_version_registry(caf::actor_system& sys, std::shared_ptr<metadata_store> store,
                                      std::function<int64_t()> now_ms, registry_options opts);

/// Empty if name is a usable environment variable name, else why.
std::string check_env_name(const std::string& name);

/// A fresh random token ("fry_" + 40 hex digits) from OpenSSL's CSPRNG.
std::string new_token();

} // namespace ferry
