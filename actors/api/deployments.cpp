// Deployments (built versions): promote, their runtime log, stop serving one.
#include "actors/api/common.hpp"
#include "actors/api/handlers.hpp"
#include "messages/json_text.hpp"

namespace ferry::api {

http_response promote(route_ctx& c) {
  auto v = get_version(c, c.param("id"));
  if (!v)
    return fail(v.error());
  return move_alias(c, alias_change{"", v->project, v->id, true, false});
}

http_response runtime_logs(route_ctx& c) {
  const auto& id = c.param("id");
  auto v = get_version(c, id);
  if (!v)
    return fail(v.error());
  uint64_t from = 0;
  auto f = query_value(c.req.target, "from");
  if (!f.empty())
    from = std::strtoull(f.c_str(), nullptr, 10);
  auto page = ask_target<log_page>(c, logs_atom::value, id, from);
  if (!page)
    return fail(page.error());
  // the stored lines are JSON already: they go as they are (nothing of a
  // tenant's is parsed into a tree and dumped again); any other, as text
  std::string body = "{\"deployment\":" + json_text(json(id)) + ",\"lines\":[";
  for (size_t i = 0; i < page->lines.size(); ++i) {
    auto& l = page->lines[i];
    if (i)
      body += ',';
    bool object = !l.empty() && l.front() == '{' && json::accept(l);
    body += object ? l : json_text(json{{"text", l}});
  }
  body += "],\"next\":" + std::to_string(page->next) + "}\n";
  return http_response{200, "application/json", std::move(body)};
}

http_response remove_deployment(route_ctx& c) {
  const auto& id = c.param("id");
  auto v = ask_role<version_info, registry_actor>(c.self, c.roles, "registry", remove_atom::value,
                                                  c.who, id);
  if (!v)
    return fail(v.error());
  ask_target<bool>(c, remove_atom::value, id); // no runtime: nothing to stop
  return ok_json(version_json(*v));
}

} // namespace ferry::api
