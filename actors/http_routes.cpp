#include "actors/http_routes.hpp"

#include "actors/api/common.hpp"
#include "actors/api/handlers.hpp"
#include "messages/json_text.hpp"

namespace ferry {

using api::ask;
using api::json;

namespace {

constexpr size_t small = api_limits::max_small_body;

/// The segments of a path (without its query).
std::vector<std::string_view> segments(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  std::vector<std::string_view> out;
  size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool matches(const route_spec& r, const std::vector<std::string_view>& parts, route_params* out) {
  auto want = segments(r.pattern);
  if (want.size() != parts.size())
    return false;
  for (size_t i = 0; i < want.size(); ++i) {
    auto w = want[i];
    if (w.size() > 2 && w.front() == '{' && w.back() == '}') {
      if (parts[i].empty())
        return false;
      if (out)
        out->emplace_back(std::string(w.substr(1, w.size() - 2)), std::string(parts[i]));
    } else if (w != parts[i] && !(w == "versions" && parts[i] == "deployments")) {
      return false;
    }
  }
  return true;
}

} // namespace

const std::vector<route_spec>& api_routes() {
  using namespace api;
  constexpr auto anyone = scope::anyone;
  constexpr auto user = scope::user;
  constexpr auto admin = scope::admin;
  constexpr auto big = api_limits::max_body;
  constexpr auto refs = api_limits::max_refs_body;
  static const std::vector<route_spec> table{
      {"GET", "/healthz", anyone, small, healthz, "liveness"},
      {"GET", "/v1/whoami", user, small, whoami, "the token's user"},
      {"POST", "/v1/missing", user, refs, missing_route,
       "which blobs the caller must upload: {\"source\":[h..],\"tree\":[h..]} "
       "(or application/x-ferry-refs)"},
      {"PUT", "/v1/blobs/{ns}/{hash}", user, big, put_blob,
       "one blob (ns: source or tree), checked against its hash"},
      {"POST", "/v1/blobs", user, big, put_pack, "a pack of blobs (messages/storage.hpp)"},
      {"GET", "/v1/blobs/{ns}/{hash}", admin, small, get_blob, "one blob's bytes"},
      {"GET", "/v1/projects", user, small, projects, "the caller's projects"},
      {"GET", "/v1/projects/{p}", user, small, project, "one project"},
      {"GET", "/v1/projects/{p}/versions", user, small, project_versions, "its versions"},
      {"POST", "/v1/projects/{p}/versions", user, big, create_version,
       "a version from {\"root\":h} or {\"files\":[..]} (or a Cap'n Proto manifest, "
       "application/x-ferry-manifest); ?seal=1 seals it at once"},
      {"POST", "/v1/projects/{p}/rollback", user, small, rollback,
       "production back to {\"deployment\"}, or to the one before"},
      {"GET", "/v1/projects/{p}/aliases", user, small, aliases, "its aliases"},
      {"POST", "/v1/projects/{p}/aliases", user, small, set_alias,
       "{\"host\", \"deployment\"}: point a host at a deployment once it is healthy "
       "(NAME alone: NAME.PROJECT.DOMAIN)"},
      {"DELETE", "/v1/aliases/{host}", user, small, remove_alias, "remove an alias"},
      {"GET", "/v1/projects/{p}/env", user, small, env_list,
       "its variables (?environment=), never their values"},
      {"POST", "/v1/projects/{p}/env", user, small, env_add,
       "{\"name\", \"value\", \"environment\"}: set a variable"},
      {"DELETE", "/v1/projects/{p}/env/{env}/{name}", user, small, env_remove, "remove a variable"},
      {"GET", "/v1/projects/{p}/domains", user, small, domains, "the domains assigned to it"},
      {"POST", "/v1/projects/{p}/domains", admin, small, add_domain,
       "{\"name\"}: assign a domain to it (its aliases may be the name or below it)"},
      {"GET", "/v1/domains", admin, small, all_domains, "every assigned domain"},
      {"DELETE", "/v1/domains/{name}", admin, small, remove_domain, "take a domain back"},
      {"GET", "/v1/versions/{id}", user, small, version_route, "one version (or deployment)"},
      {"GET", "/v1/versions/{id}/files", user, small, version_files,
       "its files, from the stored tree"},
      {"POST", "/v1/versions/{id}/seal", user, small, seal_route,
       "created -> sealed, and a build queued"},
      {"POST", "/v1/versions/{id}/build", user, small, rebuild,
       "build again without upload (?no_cache=1)"},
      {"GET", "/v1/versions/{id}/builds", user, small, version_builds, "its builds"},
      {"GET", "/v1/versions/{id}/artifact", user, small, artifact_route,
       "its latest build's output, as a tar"},
      {"POST", "/v1/versions/{id}/promote", user, small, promote,
       "point production at it once it is healthy"},
      {"GET", "/v1/versions/{id}/runtime-logs", user, small, runtime_logs,
       "its runtime log from line ?from= on"},
      {"DELETE", "/v1/versions/{id}", user, small, remove_deployment, "stop serving it"},
      {"GET", "/v1/builds/{id}", user, small, build_route, "one build"},
      {"GET", "/v1/builds/{id}/logs", user, small, build_logs, "its log lines from ?from= on"},
      {"POST", "/v1/builds/{id}/cancel", user, small, build_cancel, "stop it"},
      {"POST", "/v1/users", admin, small, add_user,
       "{\"name\", \"admin\"}: a new user, and its token"},
      {"GET", "/v1/admin/actors", admin, small, actors, "the supervised actors of this node"},
      {"GET", "/v1/admin/nodes", admin, small, members,
       "the nodes of the cluster: roles, up or down, since when, last heartbeat"},
      {"GET", "/v1/admin/repair", admin, small, repair_status_route,
       "every storage node's repairer: its pass, slices done, blobs checked and copied"},
      {"POST", "/v1/admin/repair", admin, small, repair_start,
       "start a repair pass on every storage node now"},
      {"GET", "/v1/admin/gc", admin, small, gc_status,
       "the last garbage collection: versions kept and removed, blobs deleted, bytes per node"},
      {"POST", "/v1/admin/gc", admin, small, gc_run,
       "collect garbage now (the retention rule, then every storage node); answers when done"},
      {"POST", "/v1/admin/actors/{name}/kill", admin, small, kill_actor,
       "kill one (its supervisor restarts it)"},
      {"GET", "/v1/admin/runtime", admin, small, runtime_console,
       "the instances of every deployment's functions"},
  };
  return table;
}

std::string api_reference() {
  std::string out = "| method | path | who | body | what |\n|---|---|---|---|---|\n";
  for (auto& r : api_routes()) {
    auto who = r.who == scope::anyone ? "anyone" : r.who == scope::user ? "user" : "admin";
    auto body = r.max_body >= (1 << 20) ? std::to_string(r.max_body >> 20) + " MiB"
                                        : std::to_string(r.max_body >> 10) + " KiB";
    out += std::string("| ") + r.method + " | `" + r.pattern + "` | " + who + " | " + body + " | " +
           r.doc + " |\n";
  }
  return out;
}

std::optional<route_match> match_route(std::string_view method, std::string_view target) {
  auto parts = segments(target);
  for (auto& r : api_routes()) {
    route_match m;
    if (method == r.method && matches(r, parts, &m.params)) {
      m.route = &r;
      return m;
    }
  }
  return std::nullopt;
}

caf::expected<principal> authenticate(caf::scoped_actor& self, role_cache& roles,
                                      const std::string& authorization) {
  static constexpr std::string_view bearer = "Bearer ";
  if (authorization.size() <= bearer.size() || authorization.rfind(bearer, 0) != 0)
    return make_error(ec::unauthorized,
                      "missing bearer token (set FERRY_TOKEN or run ferry login)");
  return api::ask_role<principal, registry_actor>(self, roles, "registry", auth_atom::value,
                                                  authorization.substr(bearer.size()));
}

http_response dispatch(caf::scoped_actor& self, role_cache& roles, http_request& req,
                       const route_match& m, const principal& who) {
  if (m.route->who == scope::admin && !who.admin)
    return api::fail(ec::forbidden, std::string(m.route->method) + " " + m.route->pattern +
                                        " needs an admin token");
  api::route_ctx ctx{self, roles, req, m.params, who};
  try {
    return m.route->handle(ctx);
  } catch (const std::exception& e) {
    return api::fail(ec::bad_request, std::string("malformed request: ") + e.what());
  }
}

http_response handle_request(caf::scoped_actor& self, role_cache& roles, http_request& req) {
  auto m = match_route(req.method, req.target);
  if (!m)
    return api::fail(ec::not_found,
                     "no route " + req.method.substr(0, 16) + " " + req.target.substr(0, 200));
  principal who;
  if (m->route->who != scope::anyone) {
    auto p = authenticate(self, roles, req.authorization);
    if (!p)
      return api::fail(p.error());
    who = std::move(*p);
  }
  return dispatch(self, roles, req, *m, who);
}

caf::expected<caf::actor> role_cache::get(caf::scoped_actor& self, const std::string& name) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto it = cache_.find(name); it != cache_.end())
      return it->second;
  }
  auto a = ask<caf::actor>(self, dir_, lookup_atom::value, name);
  if (!a)
    return a.error();
  std::lock_guard<std::mutex> guard{mtx_};
  cache_[name] = *a;
  return *a;
}

void role_cache::drop(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  cache_.erase(name);
}

std::optional<tree_stats> role_cache::walked(const std::string& root) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto it = walked_.find(root); it != walked_.end())
    return it->second;
  return std::nullopt;
}

void role_cache::remember_walk(const std::string& root, const tree_stats& stats) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (walked_.size() >= 4096)
    walked_.erase(walked_.begin());
  walked_[root] = stats;
}

http_response error_response(int status, const std::string& code, const std::string& message) {
  std::string line = message.substr(0, 500);
  for (auto& ch : line)
    if (ch == '\n' || ch == '\r')
      ch = ' ';
  return http_response{status, "application/json",
                       json_text(json{{"error", {{"code", code}, {"message", line}}}}) + "\n"};
}

} // namespace ferry
