#include "actors/api/common.hpp"

#include "deployers/target.hpp"
#include "messages/json_text.hpp"

namespace ferry {

namespace api {

namespace {

struct url_config {
  std::string domain;
  uint16_t port = 0;
};
url_config& urls() {
  static url_config c;
  return c;
}

} // namespace

const std::string& route_ctx::param(std::string_view name) const {
  for (auto& [k, v] : params)
    if (k == name)
      return v;
  static const std::string none;
  return none;
}

http_response fail(const caf::error& e) {
  auto code = code_of(e);
  return error_response(http_status(code), std::string{to_string(code)}, reason_of(e));
}

http_response fail(ec code, const std::string& message) {
  return error_response(http_status(code), std::string{to_string(code)}, message);
}

http_response ok_json(const json& j, int status) {
  return http_response{status, "application/json", json_text(j) + "\n"};
}

json version_json(const version_info& v) {
  json extra = json::object();
  if (v.state == "built")
    if (auto url = deployment_url(v.id, v.project); !url.empty())
      extra["url"] = url;
  return json{{"id", v.id},
              {"project", v.project},
              {"number", v.number},
              {"state", v.state},
              {"root", v.root},
              {"files", v.files},
              {"bytes", v.bytes},
              {"created_ms", v.created_ms},
              {"sealed_ms", v.sealed_ms},
              {"created_by", v.created_by},
              {"build", v.build_id},
              {"artifact", v.artifact},
              {"target", v.target},
              {"url", extra.value("url", std::string{})}};
}

json alias_json(const alias_info& a) {
  return json{{"host", a.host},
              {"project", a.project},
              {"deployment", a.deployment},
              {"production", a.production},
              {"history", a.history},
              {"url", url_of_host(a.host)},
              {"updated_ms", a.updated_ms},
              {"updated_by", a.updated_by}};
}

json build_json(const build_status& b) {
  return json{{"id", b.id},
              {"version", b.version_id},
              {"project", b.project},
              {"state", b.state},
              {"artifact", b.artifact_root},
              {"artifact_files", b.artifact_files},
              {"artifact_bytes", b.artifact_bytes},
              {"error", b.error},
              {"queued_ms", b.queued_ms},
              {"started_ms", b.started_ms},
              {"finished_ms", b.finished_ms},
              {"log_lines", b.log_lines},
              {"slot_acquire_us", b.slot_acquire_us},
              {"node", b.node}};
}

/// The value of ?name=... (undecoded), or "".
std::string query_value(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return {};
  auto query = target.substr(q + 1);
  size_t start = 0;
  while (start <= query.size()) {
    auto end = query.find('&', start);
    auto pair = query.substr(start, end == std::string_view::npos ? query.npos : end - start);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=')
      return std::string(pair.substr(name.size() + 1));
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  return {};
}

json project_json(const project_info& p) {
  return json{
      {"name", p.name}, {"owner", p.owner}, {"created_ms", p.created_ms}, {"versions", p.versions}};
}

bool query_flag(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return false;
  auto query = target.substr(q + 1);
  for (auto v : {std::string(name) + "=1", std::string(name) + "=true"}) {
    auto at = query.find(v);
    if (at != std::string_view::npos && (at == 0 || query[at - 1] == '&') &&
        (at + v.size() == query.size() || query[at + v.size()] == '&'))
      return true;
  }
  return false;
}

caf::expected<version_info> get_version(route_ctx& c, const std::string& id) {
  return ask_role<version_info, registry_actor>(c.self, c.roles, "registry", get_atom::value, c.who,
                                                id);
}

void queue_build(route_ctx& c, const version_info& v, bool no_cache, json& out) {
  auto b = ask_role<build_status, build_scheduler_actor>(
      c.self, c.roles, "builds", build_atom::value,
      build_spec{v.id, v.project, v.root, no_cache, {}, v.created_by});
  if (b) {
    out["build"] = b->id;
    out["state"] = b->state;
    out["build_status"] = build_json(*b);
  } else if (code_of(b.error()) != ec::not_found) {
    out["build_error"] = reason_of(b.error());
  }
}

std::optional<json> json_body(const route_ctx& c) {
  auto doc = json::parse(c.req.body.empty() ? std::string("{}") : c.req.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return std::nullopt;
  return doc;
}

http_response move_alias(route_ctx& c, alias_change change) {
  if (!change.deployment.empty()) {
    auto v = get_version(c, change.deployment);
    if (!v)
      return fail(v.error());
    if (v->project != change.project)
      return fail(ec::not_found, "no deployment '" + change.deployment + "' in " + change.project);
    if (v->state != "built")
      return fail(ec::conflict, "deployment " + v->id + " is " + v->state + ", not built");
  } else {
    // rollback to the one before: find it to warm it first
    auto list = ask_role<std::vector<alias_info>, registry_actor>(
        c.self, c.roles, "registry", alias_atom::value, c.who, change.project);
    if (!list)
      return fail(list.error());
    for (auto& a : *list)
      if (a.production)
        for (auto it = a.history.rbegin(); it != a.history.rend() && change.deployment.empty();
             ++it) {
          auto v = get_version(c, *it);
          if (v && v->state == "built")
            change.deployment = *it;
        }
    if (change.deployment.empty())
      return fail(ec::conflict,
                  "project " + change.project + " has no earlier production deployment");
  }
  // the production alias serves production's variables; any other alias the deployment's own
  auto warm = ask_target<bool>(c, warm_atom::value, change.deployment,
                               std::string(change.production ? "production" : ""));
  if (!warm)
    return fail(ec::unavailable, "deployment " + change.deployment +
                                     " did not pass its health check: " + reason_of(warm.error()));
  auto a = ask_role<alias_info, registry_actor>(c.self, c.roles, "registry", alias_atom::value,
                                                c.who, change);
  return a ? ok_json(alias_json(*a)) : fail(a.error());
}

const std::string& cluster_domain() {
  return urls().domain;
}

} // namespace api

using api::url_config;
using api::urls;

namespace {
std::string& scratch() {
  static std::string dir = "/tmp";
  return dir;
}
} // namespace

void set_scratch_dir(const std::string& dir) {
  scratch() = dir;
}

const std::string& scratch_dir() {
  return scratch();
}

void set_deployment_urls(const std::string& domain, uint16_t port) {
  urls() = url_config{domain, port};
}

std::string url_of_host(const std::string& host) {
  if (urls().domain.empty())
    return {};
  return "http://" + host + (urls().port == 80 ? "" : ":" + std::to_string(urls().port));
}

std::string deployment_url(const std::string& id, const std::string& project) {
  if (urls().domain.empty())
    return {};
  return url_of_host(id + "-" + project + "." + urls().domain);
}

} // namespace ferry
