#pragma once
// The handlers of the API's routes (the table is in actors/http_routes.cpp),
// one file per resource in actors/api/.
#include "actors/http_routes.hpp"

namespace ferry::api {

struct route_ctx;

// admin.cpp
http_response healthz(route_ctx&);
http_response whoami(route_ctx&);
http_response add_user(route_ctx&);
http_response all_domains(route_ctx&);
http_response remove_domain(route_ctx&);
http_response actors(route_ctx&);
http_response members(route_ctx&);
http_response repair_status_route(route_ctx&);
http_response repair_start(route_ctx&);
http_response gc_status(route_ctx&);
http_response gc_run(route_ctx&);
http_response kill_actor(route_ctx&);
http_response runtime_console(route_ctx&);

// blobs.cpp
http_response missing_route(route_ctx&);
http_response put_blob(route_ctx&);
http_response put_pack(route_ctx&);
http_response get_blob(route_ctx&);

// projects.cpp
http_response projects(route_ctx&);
http_response project(route_ctx&);
http_response project_versions(route_ctx&);
http_response rollback(route_ctx&);
http_response aliases(route_ctx&);
http_response set_alias(route_ctx&);
http_response remove_alias(route_ctx&);
http_response env_list(route_ctx&);
http_response env_add(route_ctx&);
http_response env_remove(route_ctx&);
http_response domains(route_ctx&);
http_response add_domain(route_ctx&);
/// A domain request to the registry, answered with the domains it lists.
http_response domain_call(route_ctx&, const domain_change& req, int status);

// versions.cpp
http_response create_version(route_ctx&);
http_response seal_route(route_ctx&);
http_response version_route(route_ctx&);
http_response version_files(route_ctx&);

// builds.cpp
http_response build_route(route_ctx&);
http_response build_logs(route_ctx&);
http_response build_cancel(route_ctx&);
http_response rebuild(route_ctx&);
http_response version_builds(route_ctx&);
http_response artifact_route(route_ctx&);

// deployments.cpp
http_response promote(route_ctx&);
http_response runtime_logs(route_ctx&);
http_response remove_deployment(route_ctx&);

} // namespace ferry::api
