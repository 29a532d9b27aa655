// Blobs: which are missing, uploads (one, or a pack), and raw reads (admins).
#include "actors/api/common.hpp"
#include "actors/api/handlers.hpp"

#include "storage/sha256.hpp"
#include "storage/tree.hpp"

namespace ferry::api {

namespace {

std::optional<uint8_t> ns_of(const std::string& s) {
  if (s == "source")
    return static_cast<uint8_t>(blob_ns::source);
  if (s == "tree")
    return static_cast<uint8_t>(blob_ns::tree);
  return std::nullopt;
}

/// The compact form of /v1/missing (Content-Type application/x-ferry-refs):
/// records of 1 byte namespace + 32 bytes raw SHA-256, answered with the
/// records of the missing ones in the same form.
http_response missing_binary(route_ctx& c) {
  auto& body = c.req.body;
  if (body.size() % 33 != 0)
    return fail(ec::bad_request, "a reference list is a multiple of 33 bytes");
  if (body.size() / 33 > api_limits::max_hashes)
    return fail(ec::too_large, "at most 200000 hashes per request");
  find_missing q;
  q.owner = c.who.user;
  q.refs.reserve(body.size() / 33);
  for (size_t pos = 0; pos < body.size(); pos += 33) {
    auto ns = static_cast<uint8_t>(body[pos]);
    if (ns > static_cast<uint8_t>(blob_ns::tree))
      return fail(ec::bad_request, "unknown blob namespace " + std::to_string(ns));
    q.refs.push_back(
        blob_ref{ns, to_hex(reinterpret_cast<const uint8_t*>(body.data() + pos + 1), 32)});
  }
  auto missing = ask_role<missing_set, cas_actor>(c.self, c.roles, "cas", missing_atom::value, q);
  if (!missing)
    return fail(missing.error());
  http_response out{200, "application/x-ferry-refs", {}};
  out.body.reserve(missing->indices.size() * 33);
  for (auto i : missing->indices)
    out.body.append(body, i * 33, 33);
  return out;
}

/// Stores blobs. The bytes are moved into the message, not copied, so there
/// is no second attempt: if the storage actor died meanwhile the answer is
/// 503 and the client sends again.
template <class Request>
http_response put_blobs_route(route_ctx& c, Request req, size_t n) {
  auto cas = c.roles.get(c.self, "cas");
  if (!cas)
    return fail(cas.error());
  auto ack =
      ask<put_ack>(c.self, caf::actor_cast<cas_actor>(*cas), put_atom::value, std::move(req));
  if (!ack) {
    if (ack.error().category() == caf::atom("system"))
      c.roles.drop("cas");
    return fail(ack.error());
  }
  json out{{"stored", ack->stored}, {"bytes", ack->bytes}};
  if (n)
    out["blobs"] = n;
  return ok_json(out, 201);
}

} // namespace

http_response missing_route(route_ctx& c) {
  if (c.req.content_type == "application/x-ferry-refs")
    return missing_binary(c);
  auto doc = json::parse(c.req.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return fail(ec::bad_request, "body is not a JSON object");
  find_missing q;
  q.owner = c.who.user;
  for (auto [key, ns] : {std::pair{"source", blob_ns::source}, std::pair{"tree", blob_ns::tree}}) {
    if (!doc.contains(key))
      continue;
    if (!doc[key].is_array())
      return fail(ec::bad_request, std::string("\"") + key + "\" must be an array of hashes");
    for (auto& h : doc[key]) {
      if (!h.is_string() || !is_hash_hex(h.get_ref<const std::string&>()))
        return fail(ec::bad_request, "hashes must be 64 lower-case hex digits");
      q.refs.push_back(blob_ref{static_cast<uint8_t>(ns), h.get<std::string>()});
    }
  }
  if (q.refs.size() > api_limits::max_hashes)
    return fail(ec::too_large, "at most 200000 hashes per request");
  auto missing = ask_role<missing_set, cas_actor>(c.self, c.roles, "cas", missing_atom::value, q);
  if (!missing)
    return fail(missing.error());
  json out{{"source", json::array()}, {"tree", json::array()}};
  for (auto i : missing->indices)
    out[q.refs[i].ns == 0 ? "source" : "tree"].push_back(q.refs[i].hash);
  return ok_json(out);
}

http_response put_blob(route_ctx& c) {
  auto ns = ns_of(c.param("ns"));
  if (!ns)
    return fail(ec::not_found, "no blob namespace '" + c.param("ns").substr(0, 64) + "'");
  if (!is_hash_hex(c.param("hash")))
    return fail(ec::bad_request, "a blob is named by 64 lower-case hex digits");
  put_blobs req;
  req.owner = c.who.user;
  req.blobs.push_back(blob{*ns, c.param("hash"), std::move(c.req.body)});
  return put_blobs_route(c, std::move(req), 1);
}

http_response put_pack(route_ctx& c) {
  return put_blobs_route(c, blob_pack{std::move(c.req.body), 1, c.who.user}, 0);
}

http_response get_blob(route_ctx& c) {
  auto ns = ns_of(c.param("ns"));
  if (!ns)
    return fail(ec::not_found, "no blob namespace '" + c.param("ns").substr(0, 64) + "'");
  if (!is_hash_hex(c.param("hash")))
    return fail(ec::bad_request, "a blob is named by 64 lower-case hex digits");
  auto b = ask_role<blob, cas_actor>(c.self, c.roles, "cas", get_atom::value,
                                     blob_ref{*ns, c.param("hash")});
  if (!b)
    return fail(b.error());
  return http_response{200, "application/octet-stream", std::move(b->data)};
}

} // namespace ferry::api
