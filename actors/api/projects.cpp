// Projects: listing, their versions, aliases (production moves by rollback
// and promote), environment variables and assigned domains.
#include "actors/api/common.hpp"
#include "actors/api/handlers.hpp"

namespace ferry::api {

namespace {

/// A string field of a JSON object, or "".
std::string str(const json& doc, const char* key) {
  return doc.contains(key) && doc[key].is_string() ? doc[key].get<std::string>() : std::string{};
}

json env_json(const env_entry& e) {
  return json{{"name", e.name},
              {"environment", e.environment},
              {"updated_ms", e.updated_ms},
              {"updated_by", e.updated_by}};
}

json domain_json(const domain_info& d) {
  return json{
      {"name", d.name}, {"project", d.project}, {"added_ms", d.added_ms}, {"added_by", d.added_by}};
}

http_response env_call(route_ctx& c, const env_change& req) {
  auto list = ask_role<std::vector<env_entry>, registry_actor>(c.self, c.roles, "registry",
                                                               env_atom::value, c.who, req);
  if (!list)
    return fail(list.error());
  return ok_json(json{{"project", req.project}, {"env", json_array(*list, env_json)}},
                 req.op == "add" ? 201 : 200);
}

} // namespace

http_response domain_call(route_ctx& c, const domain_change& req, int status) {
  auto list = ask_role<std::vector<domain_info>, registry_actor>(c.self, c.roles, "registry",
                                                                 domain_atom::value, c.who, req);
  if (!list)
    return fail(list.error());
  return ok_json(json{{"domains", json_array(*list, domain_json)}}, status);
}

http_response projects(route_ctx& c) {
  auto ps = ask_role<std::vector<project_info>, registry_actor>(c.self, c.roles, "registry",
                                                                list_atom::value, c.who);
  if (!ps)
    return fail(ps.error());
  return ok_json(json{{"projects", json_array(*ps, project_json)}});
}

http_response project(route_ctx& c) {
  auto x = ask_role<project_info, registry_actor>(c.self, c.roles, "registry", project_atom::value,
                                                  c.who, c.param("p"));
  return x ? ok_json(project_json(*x)) : fail(x.error());
}

http_response project_versions(route_ctx& c) {
  auto vs = ask_role<std::vector<version_info>, registry_actor>(
      c.self, c.roles, "registry", list_atom::value, c.who, c.param("p"));
  if (!vs)
    return fail(vs.error());
  return ok_json(json{{"project", c.param("p")}, {"versions", json_array(*vs, version_json)}});
}

http_response rollback(route_ctx& c) {
  auto doc = json_body(c);
  if (!doc)
    return fail(ec::bad_request, "body is not a JSON object");
  return move_alias(c, alias_change{"", c.param("p"), str(*doc, "deployment"), true, true});
}

http_response aliases(route_ctx& c) {
  auto list = ask_role<std::vector<alias_info>, registry_actor>(
      c.self, c.roles, "registry", alias_atom::value, c.who, c.param("p"));
  if (!list)
    return fail(list.error());
  return ok_json(json{{"project", c.param("p")}, {"aliases", json_array(*list, alias_json)}});
}

http_response set_alias(route_ctx& c) {
  auto doc = json_body(c);
  if (!doc)
    return fail(ec::bad_request, "body is not a JSON object");
  const auto& project = c.param("p");
  auto host = str(*doc, "host");
  if (!host.empty() && host.find('.') == std::string::npos) // a bare name is one of the project's
    host += "." + project + "." + cluster_domain();
  if (host.empty() || str(*doc, "deployment").empty())
    return fail(ec::bad_request, "give {\"host\": ..., \"deployment\": ...}");
  return move_alias(c, alias_change{host, project, str(*doc, "deployment"), false, false});
}

http_response remove_alias(route_ctx& c) {
  auto a = ask_role<alias_info, registry_actor>(c.self, c.roles, "registry", unalias_atom::value,
                                                c.who, c.param("host"));
  return a ? ok_json(alias_json(*a)) : fail(a.error());
}

http_response env_list(route_ctx& c) {
  return env_call(c,
                  env_change{"ls", c.param("p"), query_value(c.req.target, "environment"), "", ""});
}

http_response env_add(route_ctx& c) {
  auto doc = json_body(c);
  if (!doc || !doc->contains("value") || !(*doc)["value"].is_string())
    return fail(ec::bad_request, "give {\"name\", \"value\", \"environment\"}");
  return env_call(c, env_change{"add", c.param("p"), str(*doc, "environment"), str(*doc, "name"),
                                str(*doc, "value")});
}

http_response env_remove(route_ctx& c) {
  return env_call(c, env_change{"rm", c.param("p"), c.param("env"), c.param("name"), ""});
}

http_response domains(route_ctx& c) {
  return domain_call(c, domain_change{"ls", "", c.param("p")}, 200);
}

http_response add_domain(route_ctx& c) {
  auto doc = json_body(c);
  if (!doc || str(*doc, "name").empty())
    return fail(ec::bad_request, "give {\"name\": \"example.com\"}");
  return domain_call(c, domain_change{"add", str(*doc, "name"), c.param("p")}, 201);
}

} // namespace ferry::api
