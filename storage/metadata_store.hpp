#pragma once
// Metadata in RocksDB column families, each value a Cap'n Proto record
// (messages/records.capnp): users, tokens (by SHA-256 of the token),
// projects, versions, and an index of versions by project and number.
// Writes are synced. Only the version registry actor uses this.
#include "messages/registry.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ferry {

struct project_record {
  project_info info;
  uint64_t next_number = 1;
};

struct version_record {
  version_info info;
  std::string manifest; ///< Cap'n Proto rec::Manifest bytes, empty if made from a root
};

class metadata_store {
public:
  static caf::expected<std::unique_ptr<metadata_store>> open(const std::string& dir);
  virtual ~metadata_store() = default;

  virtual caf::expected<std::optional<principal>> find_user(const std::string& name) = 0;
  virtual caf::expected<bool> any_user() = 0;
  /// Adds a user with a first token in one synced write.
  virtual caf::error add_user(const principal& user, const std::string& token, int64_t now_ms) = 0;
  virtual caf::expected<std::optional<principal>> find_token(const std::string& token) = 0;

  virtual caf::expected<std::optional<project_record>> find_project(const std::string& name) = 0;
  virtual caf::error put_project(const project_record& p) = 0;
  virtual caf::expected<std::vector<project_info>> list_projects() = 0;

  virtual caf::expected<std::optional<version_record>> find_version(const std::string& id) = 0;
  /// Writes a version (and, when given, its project) in one synced batch.
  virtual caf::error put_version(const version_record& v, const project_record* p) = 0;
  virtual caf::expected<std::vector<version_info>> list_versions(const std::string& project) = 0;

  virtual caf::expected<std::optional<alias_info>> find_alias(const std::string& host) = 0;
  virtual caf::error put_alias(const alias_info& a) = 0;
  /// false if there was none.
  virtual caf::expected<bool> remove_alias(const std::string& host) = 0;
  virtual caf::expected<std::vector<alias_info>> list_aliases() = 0;

  virtual caf::expected<std::optional<domain_info>> find_domain(const std::string& name) = 0;
  virtual caf::error put_domain(const domain_info& d) = 0;
  /// false if there was none.
  virtual caf::expected<bool> remove_domain(const std::string& name) = 0;
  virtual caf::expected<std::vector<domain_info>> list_domains() = 0;

  /// An environment variable and its sealed value (storage/secret_box.hpp).
  struct env_record {
    env_entry entry;
    std::string sealed;
  };
  virtual caf::error put_env(const std::string& project, const env_record& e) = 0;
  virtual caf::expected<bool> remove_env(const std::string& project, const std::string& environment,
                                         const std::string& name) = 0;
  virtual caf::expected<std::vector<env_record>> list_env(const std::string& project) = 0;

  /// Dependency caches: a project's ("": every project's), and one put or
  /// removed (project and key name it).
  virtual caf::expected<std::vector<dep_cache_info>> list_dep_caches(
      const std::string& project) = 0;
  virtual caf::error put_dep_cache(const dep_cache_info& c) = 0;
  virtual caf::expected<bool> remove_dep_cache(const std::string& project,
                                               const std::string& key) = 0;
};

/// "created", "sealed", ... as in rec::VersionState.
std::string version_state_name(int state);

} // namespace ferry
