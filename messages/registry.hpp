#pragma once
// The version registry (api role): the single writer of metadata. It knows
// users, API tokens (stored hashed), projects and versions, and it decides
// who may touch what: every request names the principal it acts for.
#include "messages/atoms.hpp"

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

/// Who a request acts for, as resolved from its token.
struct principal {
  std::string user;
  bool admin = false;
};

struct project_info {
  std::string name;
  std::string owner;
  int64_t created_ms = 0;
  uint64_t versions = 0;
};

/// A version as reported to clients. state is the name of rec::VersionState.
struct version_info {
  std::string id;
  std::string project;
  uint64_t number = 0;
  std::string state;
  std::string root;
  uint64_t files = 0;
  uint64_t bytes = 0;
  int64_t created_ms = 0;
  int64_t sealed_ms = 0;
  std::string created_by;
  std::string build_id; ///< the latest build of this version, if any
};

/// Create a version of a project (created on first use, owned by its
/// creator) from either a root tree hash or a flat manifest (Cap'n Proto
/// bytes of rec::Manifest, already validated by the caller). With sealed set
/// the caller has verified the tree complete and the version is born sealed.
struct new_version {
  std::string project;
  std::string root;
  std::string manifest;
  uint64_t files = 0;
  uint64_t bytes = 0;
  bool sealed = false;
};

/// Seal a version whose tree the caller has verified complete.
struct seal_version {
  std::string id;
  std::string root;
  uint64_t files = 0;
  uint64_t bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, principal& x) {
  return f(caf::meta::type_name("ferry.principal"), x.user, x.admin);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, project_info& x) {
  return f(caf::meta::type_name("ferry.project_info"), x.name, x.owner, x.created_ms, x.versions);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, version_info& x) {
  return f(caf::meta::type_name("ferry.version_info"), x.id, x.project, x.number, x.state, x.root,
           x.files, x.bytes, x.created_ms, x.sealed_ms, x.created_by, x.build_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, new_version& x) {
  return f(caf::meta::type_name("ferry.new_version"), x.project, x.root, x.manifest, x.files,
           x.bytes, x.sealed);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, seal_version& x) {
  return f(caf::meta::type_name("ferry.seal_version"), x.id, x.root, x.files, x.bytes);
}

/// - auth: resolve a bearer token; unauthorized if unknown.
/// - user: (admin only) create a user, reply with its new token; conflict if it exists.
/// - project: a project the principal may use; not_found or forbidden.
/// - list: the principal's projects, or the versions of one project.
/// - create: a new version in state created.
/// - get: one version; manifest: its flat manifest bytes (empty if made from a root).
/// - seal: created -> sealed; conflict if sealed already.
/// - build (from the build scheduler): version, state, build id: a sealed
///   version moves through queued, building, built, failed, canceled.
using registry_actor = caf::typed_actor<
    caf::replies_to<auth_atom, std::string>::with<principal>,
    caf::replies_to<user_atom, principal, std::string, bool>::with<std::string>,
    caf::replies_to<project_atom, principal, std::string>::with<project_info>,
    caf::replies_to<list_atom, principal>::with<std::vector<project_info>>,
    caf::replies_to<list_atom, principal, std::string>::with<std::vector<version_info>>,
    caf::replies_to<create_atom, principal, new_version>::with<version_info>,
    caf::replies_to<get_atom, principal, std::string>::with<version_info>,
    caf::replies_to<manifest_atom, principal, std::string>::with<std::string>,
    caf::replies_to<seal_atom, principal, seal_version>::with<version_info>,
    caf::reacts_to<build_atom, std::string, std::string, std::string>>;

} // namespace ferry
