#pragma once
// What the handlers of the HTTP API share (actors/api/*.cpp): asking role
// actors, answering in JSON, reading a request's query, and records as JSON.
#include "actors/http_routes.hpp"
#include "deployers/target.hpp"
#include "messages/build.hpp"
#include "messages/errors.hpp"
#include "messages/registry.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace ferry::api {

using json = nlohmann::json;

constexpr auto ask_timeout = std::chrono::seconds(60);
using relay_atom = caf::atom_constant<caf::atom("relay")>;

/// Sends a request and waits for the reply. A request to an actor on another
/// node goes through a short-lived local relay that monitors it: CAF fails
/// requests to a dead remote actor only by timeout, the relay fails them as
/// soon as the node is gone.
template <class R, class Handle, class... Ts>
caf::expected<R> ask(caf::scoped_actor& self, const Handle& h, Ts&&... xs) {
  caf::expected<R> out{caf::error{}};
  auto on_reply = [&](R& r) { out = std::move(r); };
  auto on_error = [&](caf::error& e) { out = std::move(e); };
  if (!h || h->node() == self->node()) {
    self->request(h, ask_timeout, std::forward<Ts>(xs)...).receive(on_reply, on_error);
    return out;
  }
  auto relay = self->spawn([h, msg = std::make_tuple(std::forward<Ts>(xs)...)](
                               caf::event_based_actor* me) mutable -> caf::behavior {
    return {[=, msg = std::move(msg)](relay_atom) mutable {
      auto rp = me->make_response_promise();
      auto shared = std::make_shared<caf::response_promise>(rp);
      me->monitor(h);
      me->set_down_handler([shared, me](caf::down_msg&) {
        if (shared->pending())
          shared->deliver(caf::make_error(caf::sec::request_receiver_down)); // its node went
        me->quit();
      });
      std::apply(
          [&](auto&&... args) {
            me->request(h, ask_timeout, std::move(args)...)
                .then(
                    [shared, me](R& r) {
                      shared->deliver(std::move(r));
                      me->quit();
                    },
                    [shared, me](caf::error& e) {
                      if (shared->pending())
                        shared->deliver(std::move(e));
                      me->quit();
                    });
          },
          std::move(msg));
      return rp;
    }};
  });
  self->request(relay, ask_timeout, relay_atom::value).receive(on_reply, on_error);
  return out;
}

/// Sends a request to a role actor by name, retrying once if the cached
/// handle turned out to be dead (its actor or node gone, or a remote one
/// silent). An answer, error or not, is never asked for twice: a local actor
/// that takes too long would only take as long again.
template <class R, class Iface, class... Ts>
caf::expected<R> ask_role(caf::scoped_actor& self, role_cache& roles, const std::string& name,
                          const Ts&... xs) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto a = roles.get(self, name);
    if (!a)
      return a.error();
    auto r = ask<R>(self, caf::actor_cast<Iface>(*a), xs...);
    if (!r && r.error().category() == caf::atom("system")) {
      roles.drop(name); // look the role up again
      auto s = static_cast<caf::sec>(r.error().code());
      bool remote = (*a)->node() != self->node();
      if (s == caf::sec::request_receiver_down || s == caf::sec::unexpected_message ||
          (s == caf::sec::request_timeout && remote))
        continue;
    }
    return r;
  }
  return make_error(ec::unavailable, "actor '" + name + "' is unavailable");
}

/// Everything a handler needs: the request, its path's parameters (by the
/// names of the route's pattern) and the principal it acts for.
struct route_ctx {
  caf::scoped_actor& self;
  role_cache& roles;
  http_request& req;
  const route_params& params;
  principal who;

  /// The value of a parameter of the route's pattern ({name}).
  const std::string& param(std::string_view name) const;
};

http_response fail(const caf::error& e);
http_response fail(ec code, const std::string& message);
http_response ok_json(const json& j, int status = 200);

/// Each of xs as JSON, in an array.
template <class T, class F>
json json_array(const std::vector<T>& xs, F&& each) {
  json out = json::array();
  for (auto& x : xs)
    out.push_back(each(x));
  return out;
}

json version_json(const version_info& v);
json alias_json(const alias_info& a);
json build_json(const build_status& b);
json project_json(const project_info& p);

/// The value of ?name=... (undecoded), or "".
std::string query_value(std::string_view target, std::string_view name);
/// Whether ?name=1 or ?name=true is in the query.
bool query_flag(std::string_view target, std::string_view name);

/// A version the principal may see; not_found otherwise.
caf::expected<version_info> get_version(route_ctx& c, const std::string& id);

/// The deploy target of this cluster (the local runtime; the first deploy node).
template <class R, class... Ts>
caf::expected<R> ask_target(route_ctx& c, const Ts&... xs) {
  return ask_role<R, deploy_target_actor>(c.self, c.roles, target_actor_name("local"), xs...);
}

/// The request body as a JSON object ("{}" when empty); nullopt if it is not one.
std::optional<json> json_body(const route_ctx& c);

/// Points an alias at a deployment once it is warm (its functions started
/// and healthy), so that the switch never sends traffic to a cold or
/// broken deployment.
http_response move_alias(route_ctx& c, alias_change change);

/// Queues a build of a sealed version if the cluster has a build role, and
/// adds it (or why it could not be queued) to a version's JSON.
void queue_build(route_ctx& c, const version_info& v, bool no_cache, json& out);

/// The cluster's domain (for names under it).
const std::string& cluster_domain();

} // namespace ferry::api
