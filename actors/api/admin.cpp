// The caller, users (admins create them), domains, and the consoles of
// actors and of the runtime (admins).
#include "actors/api/common.hpp"
#include "actors/api/handlers.hpp"

namespace ferry::api {

http_response healthz(route_ctx&) {
  return ok_json(json{{"ok", true}});
}

http_response whoami(route_ctx& c) {
  return ok_json(json{{"user", c.who.user}, {"admin", c.who.admin}});
}

http_response add_user(route_ctx& c) {
  auto doc = json_body(c);
  if (!doc || !doc->contains("name") || !(*doc)["name"].is_string())
    return fail(ec::bad_request, "give {\"name\": \"...\"}");
  bool admin =
      doc->contains("admin") && (*doc)["admin"].is_boolean() && (*doc)["admin"].get<bool>();
  auto name = (*doc)["name"].get<std::string>();
  auto token = ask_role<std::string, registry_actor>(c.self, c.roles, "registry", user_atom::value,
                                                     c.who, name, admin);
  return token ? ok_json(json{{"name", name}, {"token", *token}}, 201) : fail(token.error());
}

http_response all_domains(route_ctx& c) {
  return domain_call(c, domain_change{"ls", "", ""}, 200);
}

http_response remove_domain(route_ctx& c) {
  return domain_call(c, domain_change{"rm", c.param("name"), ""}, 200);
}

http_response actors(route_ctx& c) {
  auto list = ask<std::vector<actor_status>>(c.self, c.roles.directory(), list_atom::value);
  if (!list)
    return fail(list.error());
  auto out = json_array(*list, [](const actor_status& a) {
    return json{{"name", a.name},
                {"node", a.node},
                {"alive", a.alive},
                {"restarts", a.restarts},
                {"since_ms", a.since_ms}};
  });
  return ok_json(json{{"actors", out}});
}

http_response members(route_ctx& c) {
  auto list = ask<std::vector<member_status>>(c.self, c.roles.directory(), members_atom::value);
  if (!list)
    return fail(list.error());
  auto out = json_array(*list, [](const member_status& m) {
    return json{{"node", m.node},         {"roles", m.roles},     {"up", m.up},
                {"since_ms", m.since_ms}, {"seen_ms", m.seen_ms}, {"incarnation", m.incarnation}};
  });
  return ok_json(json{{"nodes", out}});
}

/// Every storage node's repairer: what its current or last pass did. With
/// start, each begins a pass now.
static http_response repairers(route_ctx& c, bool start) {
  auto all = ask<std::vector<located_actor>>(c.self, c.roles.directory(), lookup_atom::value,
                                             all_atom::value, std::string("repairer"));
  if (!all)
    return fail(all.error());
  json out = json::array();
  for (auto& r : *all) {
    auto h = caf::actor_cast<repairer_actor>(r.actor);
    if (start)
      c.self->send(h, repair_atom::value);
    auto s = ask<repair_status>(c.self, h, repair_atom::value, status_atom::value);
    if (!s) {
      out.push_back(json{{"node", r.node}, {"error", reason_of(s.error())}});
      continue;
    }
    out.push_back(json{{"node", s->node},
                       {"running", s->running},
                       {"passes", s->passes},
                       {"ranges_done", s->ranges_done},
                       {"ranges_total", s->ranges_total},
                       {"checked", s->checked},
                       {"copied", s->copied},
                       {"copied_bytes", s->copied_bytes},
                       {"copied_total", s->copied_total},
                       {"last_pass_end_ms", s->last_pass_end_ms},
                       {"last_pass_ms", s->last_pass_ms},
                       {"last_error", s->last_error}});
  }
  return ok_json(json{{"repairers", out}}, start ? 202 : 200);
}

http_response repair_status_route(route_ctx& c) {
  return repairers(c, false);
}

http_response repair_start(route_ctx& c) {
  return repairers(c, true);
}

static json summary_json(const gc_summary& s) {
  json nodes = json::array();
  for (auto& n : s.nodes)
    nodes.push_back(json{{"node", n.node},
                         {"checked", n.checked},
                         {"deleted", n.deleted},
                         {"segments_removed", n.segments_removed},
                         {"segments_compacted", n.segments_compacted},
                         {"bytes_before", n.bytes_before},
                         {"bytes_after", n.bytes_after}});
  return json{{"started_ms", s.started_ms},
              {"duration_ms", s.duration_ms},
              {"versions_kept", s.versions_kept},
              {"versions_removed", s.versions_removed},
              {"live", s.live},
              {"nodes", nodes},
              {"skipped", s.skipped},
              {"error", s.error}};
}

/// A garbage collection now: answers when it is done (or the last one).
static http_response collection(route_ctx& c, bool now) {
  auto found =
      ask<caf::actor>(c.self, c.roles.directory(), lookup_atom::value, std::string("collector"));
  if (!found)
    return fail(found.error());
  auto h = caf::actor_cast<collector_actor>(*found);
  auto s = now ? ask<gc_summary>(c.self, h, gc_atom::value)
               : ask<gc_summary>(c.self, h, gc_atom::value, status_atom::value);
  if (!s)
    return fail(s.error());
  return ok_json(summary_json(*s));
}

http_response gc_status(route_ctx& c) {
  return collection(c, false);
}

http_response gc_run(route_ctx& c) {
  return collection(c, true);
}

http_response kill_actor(route_ctx& c) {
  const auto& name = c.param("name");
  auto killed = ask<bool>(c.self, c.roles.directory(), kill_atom::value, name);
  if (!killed)
    return fail(killed.error());
  if (!*killed)
    return fail(ec::not_found, "no running actor '" + name + "' on this node");
  c.roles.drop(name);
  return ok_json(json{{"killed", name}});
}

http_response runtime_console(route_ctx& c) {
  auto s = ask_target<std::string>(c, list_atom::value);
  return s ? ok_json(json::parse(*s)) : fail(s.error());
}

} // namespace ferry::api
