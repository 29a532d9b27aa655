#pragma once
// The version registry (api role): the single writer of metadata. It knows
// users, API tokens (stored hashed), projects and versions, and it decides
// who may touch what: every request names the principal it acts for.
#include "messages/atoms.hpp"
#include "messages/storage.hpp"

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
  std::string artifact; ///< output tree of its latest successful build
  std::string target;   ///< "production" or "preview"
};

/// A host name pointing at a deployment (a built version).
struct alias_info {
  std::string host;
  std::string project;
  std::string deployment; ///< empty in a notice: the alias was removed
  bool production = false;
  std::vector<std::string> history; ///< production: earlier deployments, newest last
  int64_t updated_ms = 0;
  std::string updated_by;
};

/// Point host at deployment. With production set, host is the project's
/// production host; rollback then moves it back (an empty deployment: to
/// the one before) without remembering the one it leaves.
struct alias_change {
  std::string host;
  std::string project;
  std::string deployment;
  bool production = false;
  bool rollback = false;
};

/// What a runtime needs to serve a deployment.
struct deployment_ref {
  std::string id;
  std::string project;
  std::string state;
  std::string artifact;
  std::string target;
  std::string owner; ///< of its project: whose budgets its instances use
};

/// A domain assigned to a project by an admin: its custom aliases may be
/// the name or below it (actors/host_names.hpp).
struct domain_info {
  std::string name;
  std::string project;
  int64_t added_ms = 0;
  std::string added_by;
};

/// ferry domain: op is "add" (admin), "rm" (admin) or "ls" (the project's,
/// or every one for an admin when project is empty).
struct domain_change {
  std::string op;
  std::string name;
  std::string project;
};

/// ferry env: op is "add", "rm" or "ls" (value only with add).
struct env_change {
  std::string op;
  std::string project;
  std::string environment;
  std::string name;
  std::string value;
};

/// An environment variable as clients see it: never its value.
struct env_entry {
  std::string name;
  std::string environment;
  int64_t updated_ms = 0;
  std::string updated_by;
};

/// Create a version of a project (created on first use, owned by its
/// creator) from either a root tree hash or a flat manifest (Cap'n Proto
/// bytes of rec::Manifest, already validated by the caller). With sealed set
/// the caller has verified the tree complete and the version is born sealed.
/// A project's dependency cache in the cluster: the tree (namespace tree)
/// of a node_modules installed from the lockfile whose hash names it. An
/// empty root: none.
struct dep_cache_info {
  std::string project;
  std::string key; ///< the package manager, "-", a SHA-256 (sandbox/package_manager.hpp)
  std::string root;
  uint64_t bytes = 0;
  int64_t used_ms = 0;
};

struct new_version {
  std::string project;
  std::string root;
  std::string manifest;
  uint64_t files = 0;
  uint64_t bytes = 0;
  bool sealed = false;
  std::string target = "preview";
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
           x.files, x.bytes, x.created_ms, x.sealed_ms, x.created_by, x.build_id, x.artifact,
           x.target);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, alias_info& x) {
  return f(caf::meta::type_name("ferry.alias_info"), x.host, x.project, x.deployment, x.production,
           x.history, x.updated_ms, x.updated_by);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, alias_change& x) {
  return f(caf::meta::type_name("ferry.alias_change"), x.host, x.project, x.deployment,
           x.production, x.rollback);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment_ref& x) {
  return f(caf::meta::type_name("ferry.deployment_ref"), x.id, x.project, x.state, x.artifact,
           x.target, x.owner);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, domain_info& x) {
  return f(caf::meta::type_name("ferry.domain_info"), x.name, x.project, x.added_ms, x.added_by);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, domain_change& x) {
  return f(caf::meta::type_name("ferry.domain_change"), x.op, x.name, x.project);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, env_change& x) {
  return f(caf::meta::type_name("ferry.env_change"), x.op, x.project, x.environment, x.name,
           x.value);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, env_entry& x) {
  return f(caf::meta::type_name("ferry.env_entry"), x.name, x.environment, x.updated_ms,
           x.updated_by);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dep_cache_info& x) {
  return f(caf::meta::type_name("ferry.dep_cache_info"), x.project, x.key, x.root, x.bytes,
           x.used_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, new_version& x) {
  return f(caf::meta::type_name("ferry.new_version"), x.project, x.root, x.manifest, x.files,
           x.bytes, x.sealed, x.target);
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
/// - build (from the build scheduler): version, state, build id, artifact
///   root: a sealed version moves through queued, building, built, failed,
///   canceled.
/// - alias: point a host at a built deployment of the same project (the
///   deployment's runtimes are told, and have answered, before the reply);
///   a custom host must be the project's by its shape or an assigned domain
///   (actors/host_names.hpp); list a project's aliases; unalias: remove one.
/// - domain: assign a domain to a project, take it back (admins), or list.
/// - subscribe (from a runtime): every alias now; from then on each change
///   arrives as a request (alias_atom, alias_info) answered with true.
/// - resolve (from a runtime): what a deployment is and where its files are.
/// - env: add, remove or list a project's environment variables (values are
///   sealed at rest and never listed); secrets (from a runtime): the
///   variables of a project's environment, opened, as name, value, ...
/// - remove: a deployment no alias points at is no longer served.
/// - cache (from a build node): the dependency cache of a version's project
///   for a key (user, version, key; an empty root if none), or a new one
///   (user, version, key, root, bytes); a project keeps its last 3, and
///   their trees are GC roots.
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
    caf::reacts_to<build_atom, std::string, std::string, std::string, std::string>,
    caf::replies_to<alias_atom, principal, alias_change>::with<alias_info>,
    caf::replies_to<alias_atom, principal, std::string>::with<std::vector<alias_info>>,
    caf::replies_to<unalias_atom, principal, std::string>::with<alias_info>,
    caf::replies_to<subscribe_atom, caf::actor>::with<std::vector<alias_info>>,
    caf::replies_to<resolve_atom, std::string>::with<deployment_ref>,
    caf::replies_to<domain_atom, principal, domain_change>::with<std::vector<domain_info>>,
    caf::replies_to<env_atom, principal, env_change>::with<std::vector<env_entry>>,
    caf::replies_to<secrets_atom, principal, std::string,
                    std::string>::with<std::vector<std::string>>,
    caf::replies_to<remove_atom, principal, std::string>::with<version_info>,
    caf::replies_to<gc_atom, uint32_t>::with<gc_roots>,
    caf::replies_to<cache_atom, std::string, std::string, std::string>::with<dep_cache_info>,
    caf::replies_to<cache_atom, std::string, std::string, std::string, std::string,
                    uint64_t>::with<dep_cache_info>,
    caf::replies_to<list_atom, build_atom>::with<std::vector<version_info>>>;

} // namespace ferry
