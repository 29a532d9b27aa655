#pragma once
// The registry's rules that need no actor: who may use a project or a
// version, the retention rule a collection marks from, and the dependency
// caches of the cluster (actors/version_registry.cpp calls them).
#include "messages/registry.hpp"
#include "messages/storage.hpp"
#include "storage/metadata_store.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>

namespace ferry {

/// The project if p may use it: not_found (also for another user's project:
/// nobody learns that it exists) or a storage error otherwise.
caf::expected<project_record> authorize(metadata_store& store, const principal& p,
                                        const std::string& name);

/// The version id names, if p may use its project (not_found otherwise).
caf::expected<version_record> authorize_version(metadata_store& store, const principal& p,
                                                const std::string& id);

/// The version id names, if the user of that name may use it (a request
/// from another node names its user; the user's own rights apply).
caf::expected<version_record> authorize_version_of(metadata_store& store, const std::string& user,
                                                   const std::string& id);

/// The retention rule: a project keeps its last `keep` versions, and any
/// version an alias serves or a production history may roll back to, or
/// that is not done; the rest become removed. The trees of what is kept,
/// and of the dependency caches, are returned: a collection marks from them.
caf::expected<gc_roots> apply_retention(metadata_store& store, uint32_t keep);

/// A build's question for its project's dependency cache of a key (an
/// empty root: none); found, it is the most recently used now.
caf::expected<dep_cache_info> find_dep_cache(metadata_store& store, const std::string& user,
                                             const std::string& id, const std::string& key,
                                             int64_t now_ms);

/// A dependency cache a build stored (its tree on the replicas): from now
/// on any build node finds it; the project keeps its 3 most recently used.
caf::expected<dep_cache_info> put_dep_cache(metadata_store& store, const std::string& user,
                                            const std::string& id, const std::string& key,
                                            const std::string& root, uint64_t bytes,
                                            int64_t now_ms);

} // namespace ferry
