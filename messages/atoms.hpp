#pragma once
// Atoms of ferry's actor protocol (CAF 0.17: at most 10 characters each).
#include <caf/atom.hpp>

namespace ferry {

using put_atom = caf::atom_constant<caf::atom("put")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using missing_atom = caf::atom_constant<caf::atom("missing")>;
using walk_atom = caf::atom_constant<caf::atom("walk")>;
using auth_atom = caf::atom_constant<caf::atom("auth")>;
using user_atom = caf::atom_constant<caf::atom("user")>;
using project_atom = caf::atom_constant<caf::atom("project")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using manifest_atom = caf::atom_constant<caf::atom("manifest")>;
using seal_atom = caf::atom_constant<caf::atom("seal")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using kill_atom = caf::atom_constant<caf::atom("kill")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using build_atom = caf::atom_constant<caf::atom("build")>;
using alias_atom = caf::atom_constant<caf::atom("alias")>;
using unalias_atom = caf::atom_constant<caf::atom("unalias")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using env_atom = caf::atom_constant<caf::atom("env")>;
using secrets_atom = caf::atom_constant<caf::atom("secrets")>;
using remove_atom = caf::atom_constant<caf::atom("remove")>;
using warm_atom = caf::atom_constant<caf::atom("warm")>;
using logs_atom = caf::atom_constant<caf::atom("logs")>;
using domain_atom = caf::atom_constant<caf::atom("domain")>;
using reap_atom = caf::atom_constant<caf::atom("reap")>;
using all_atom = caf::atom_constant<caf::atom("all")>;
using members_atom = caf::atom_constant<caf::atom("members")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using repair_atom = caf::atom_constant<caf::atom("repair")>;
using digest_atom = caf::atom_constant<caf::atom("digest")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using gc_atom = caf::atom_constant<caf::atom("gc")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using cache_atom = caf::atom_constant<caf::atom("cache")>;

} // namespace ferry
