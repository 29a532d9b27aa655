// Deployments (built versions): promote, their runtime log, stop serving one.
#include "actors/api/common.hpp"
#include "actors/api/handlers.hpp"

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
  json lines = json::array();
  for (auto& l : page->lines) {
    auto j = json::parse(l, nullptr, false);
    lines.push_back(j.is_discarded() ? json{{"text", l}} : j);
  }
  return ok_json(json{{"deployment", id}, {"lines", lines}, {"next", page->next}});
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
