#include "actors/http_routes.hpp"

#include "deployers/target.hpp"

#include "messages/build.hpp"
#include "messages/errors.hpp"
#include "messages/json_text.hpp"
#include "messages/records.capnp.h"
#include "messages/registry.hpp"
#include "storage/paths.hpp"
#include "storage/capnp_record.hpp"
#include "storage/sha256.hpp"
#include "storage/tar.hpp"
#include "storage/tree.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <kj/exception.h>

#include <tuple>
#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <cstring>

namespace ferry {

using json = nlohmann::json;

namespace {

constexpr auto ask_timeout = std::chrono::seconds(60);
using relay_atom = caf::atom_constant<caf::atom("relay")>;

/// A failed request: the HTTP status comes from the code.
struct failure {
  ec code;
  std::string message;
};

http_response fail(const caf::error& e) {
  auto code = code_of(e);
  return error_response(http_status(code), std::string{to_string(code)}, reason_of(e));
}

http_response fail(ec code, const std::string& message) {
  return error_response(http_status(code), std::string{to_string(code)}, message);
}

http_response ok_json(const json& j, int status = 200) {
  return http_response{status, "application/json", json_text(j) + "\n"};
}

/// Sends a request and waits for the reply.
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

struct url_config {
  std::string domain;
  uint16_t port = 0;
};
url_config& urls() {
  static url_config c;
  return c;
}

/// Each of xs as JSON, in an array.
template <class T, class F>
json json_array(const std::vector<T>& xs, F&& each) {
  json out = json::array();
  for (auto& x : xs)
    out.push_back(each(x));
  return out;
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
              {"slot_acquire_us", b.slot_acquire_us}};
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

std::vector<std::string> split_path(std::string_view target) {
  auto q = target.find('?');
  auto path = target.substr(0, q);
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    parts.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
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

std::optional<uint8_t> ns_of(const std::string& s) {
  if (s == "source")
    return static_cast<uint8_t>(blob_ns::source);
  if (s == "tree")
    return static_cast<uint8_t>(blob_ns::tree);
  return std::nullopt;
}

/// Reads a JSON manifest or a Cap'n Proto one into flat entries.
std::optional<failure> read_manifest(const http_request& req, const json* doc,
                                     std::vector<flat_entry>& out) {
  if (req.content_type == "application/x-ferry-manifest") {
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = (api_limits::max_body / 8) * 2;
    auto read = [&](capnp::MessageReader& reader) -> std::optional<failure> {
      auto entries = reader.getRoot<rec::Manifest>().getEntries();
      if (entries.size() > api_limits::max_entries)
        return failure{ec::too_large, "manifest has more than 1000000 entries"};
      for (auto e : entries) {
        flat_entry f;
        f.path = std::string(e.getPath().cStr(), e.getPath().size());
        switch (e.getKind()) {
          case rec::EntryKind::FILE: f.kind = entry_kind::file; break;
          case rec::EntryKind::EXECUTABLE: f.kind = entry_kind::exec; break;
          case rec::EntryKind::SYMLINK: f.kind = entry_kind::link; break;
          default: return failure{ec::bad_request, "unknown entry kind"};
        }
        f.size = e.getSize();
        f.ref = f.kind == entry_kind::link ? std::string(e.getTarget()) : std::string(e.getHash());
        out.push_back(std::move(f));
      }
      return std::nullopt;
    };
    try {
      return with_reader(req.body, read, opts);
    } catch (const kj::Exception&) {
      return failure{ec::bad_request, "malformed Cap'n Proto manifest"};
    }
  }
  if (!doc || !doc->is_object() || !doc->contains("files"))
    return failure{ec::bad_request, "give a \"files\" list"};
  const auto& files = doc->at("files");
  if (!files.is_array())
    return failure{ec::bad_request, "\"files\" must be an array"};
  if (files.size() > api_limits::max_entries)
    return failure{ec::too_large, "manifest has more than 1000000 entries"};
  for (const auto& e : files) {
    if (!e.is_object() || !e.contains("path") || !e["path"].is_string())
      return failure{ec::bad_request, "every file needs a string \"path\""};
    flat_entry f;
    f.path = e["path"].get<std::string>();
    if (e.contains("symlink")) {
      if (!e["symlink"].is_string())
        return failure{ec::bad_request, "\"symlink\" must be a string"};
      f.kind = entry_kind::link;
      f.ref = e["symlink"].get<std::string>();
    } else {
      if (!e.contains("hash") || !e["hash"].is_string())
        return failure{ec::bad_request, "file '" + f.path + "' needs a string \"hash\""};
      f.ref = e["hash"].get<std::string>();
      if (e.contains("size")) {
        if (!e["size"].is_number_unsigned())
          return failure{ec::bad_request, "\"size\" must be a non-negative integer"};
        f.size = e["size"].get<uint64_t>();
      }
      if (e.contains("executable") && e["executable"].is_boolean() && e["executable"].get<bool>())
        f.kind = entry_kind::exec;
    }
    out.push_back(std::move(f));
  }
  return std::nullopt;
}

std::string manifest_bytes(const std::vector<flat_entry>& entries) {
  capnp::MallocMessageBuilder mb;
  auto list = mb.initRoot<rec::Manifest>().initEntries(static_cast<unsigned>(entries.size()));
  for (unsigned i = 0; i < entries.size(); ++i) {
    auto& f = entries[i];
    auto e = list[i];
    e.setPath(f.path);
    e.setSize(f.size);
    if (f.kind == entry_kind::link) {
      e.setKind(rec::EntryKind::SYMLINK);
      e.setTarget(f.ref);
    } else {
      e.setKind(f.kind == entry_kind::exec ? rec::EntryKind::EXECUTABLE : rec::EntryKind::FILE);
      e.setHash(f.ref);
    }
  }
  return to_bytes(mb);
}

caf::expected<std::vector<flat_entry>> decode_manifest(const std::string& bytes) {
  http_request fake;
  fake.content_type = "application/x-ferry-manifest";
  fake.body = bytes;
  std::vector<flat_entry> out;
  if (auto f = read_manifest(fake, nullptr, out))
    return make_error(ec::corrupt, "stored manifest: " + f->message);
  return out;
}

/// Makes a tree complete in storage and checks it: from a flat manifest,
/// every file blob must be stored, then the directory nodes are stored; a
/// root must name a stored, valid tree. Nothing is written if a check fails.
caf::expected<std::pair<std::string, tree_stats>> settle_tree(caf::scoped_actor& self,
                                                              role_cache& roles, std::string root,
                                                              std::vector<flat_entry>* manifest) {
  if (manifest) {
    built_tree tree;
    if (auto err = build_tree(*manifest, tree))
      return make_error(err.code == "bad_symlink" ? ec::bad_symlink
                        : err.code == "bad_path"  ? ec::bad_path
                                                  : ec::bad_request,
                        err.reason);
    find_missing q;
    std::vector<const flat_entry*> named;
    for (auto& f : *manifest)
      if (f.kind != entry_kind::link) {
        q.refs.push_back(blob_ref{static_cast<uint8_t>(blob_ns::source), f.ref});
        named.push_back(&f);
      }
    auto missing = ask_role<missing_set, cas_actor>(self, roles, "cas", missing_atom::value, q);
    if (!missing)
      return missing.error();
    if (!missing->indices.empty())
      return make_error(ec::missing_blobs,
                        std::to_string(missing->indices.size()) +
                            " blob(s) named by the manifest are not stored, e.g. '" +
                            named[missing->indices.front()]->path + "'");
    put_blobs nodes;
    for (auto& n : tree.nodes)
      nodes.blobs.push_back(blob{static_cast<uint8_t>(blob_ns::tree), n.hash, n.bytes});
    auto stored = ask_role<put_ack, cas_actor>(self, roles, "cas", put_atom::value, nodes);
    if (!stored)
      return stored.error();
    root = tree.root;
  }
  // A walk's result depends only on the root hash: remember it.
  if (auto known = roles.walked(root))
    return std::make_pair(root, *known);
  auto stats = ask_role<tree_stats, cas_actor>(self, roles, "cas", walk_atom::value,
                                               blob_ref{static_cast<uint8_t>(blob_ns::tree), root});
  if (!stats)
    return stats.error();
  roles.remember_walk(root, *stats);
  return std::make_pair(root, *stats);
}

caf::expected<version_info> seal(caf::scoped_actor& self, role_cache& roles, const principal& who,
                                 const version_info& v, std::vector<flat_entry>* manifest) {
  auto settled = settle_tree(self, roles, v.root, manifest);
  if (!settled)
    return settled.error();
  auto& [root, stats] = *settled;
  return ask_role<version_info, registry_actor>(self, roles, "registry", seal_atom::value, who,
                                                seal_version{v.id, root, stats.files, stats.bytes});
}

/// Everything a route needs.
struct route_ctx {
  caf::scoped_actor& self;
  role_cache& roles;
  http_request& req;
  std::vector<std::string> parts;
  principal who;
};

/// A version the principal may see; not_found or forbidden otherwise.
caf::expected<version_info> get_version(route_ctx& c, const std::string& id) {
  return ask_role<version_info, registry_actor>(c.self, c.roles, "registry", get_atom::value, c.who,
                                                id);
}

/// Queues a build of a sealed version if the cluster has a build role, and
/// adds it (or why it could not be queued) to a version's JSON.
void queue_build(route_ctx& c, const version_info& v, bool no_cache, json& out) {
  auto b = ask_role<build_status, build_scheduler_actor>(
      c.self, c.roles, "builds", build_atom::value, build_spec{v.id, v.project, v.root, no_cache});
  if (b) {
    out["build"] = b->id;
    out["state"] = b->state;
    out["build_status"] = build_json(*b);
  } else if (code_of(b.error()) != ec::not_found) {
    out["build_error"] = reason_of(b.error());
  }
}

/// A build the principal may see (through its version's project), or an error.
caf::expected<build_status> visible_build(route_ctx& c, const std::string& id) {
  auto b =
      ask_role<build_status, build_scheduler_actor>(c.self, c.roles, "builds", get_atom::value, id);
  if (!b)
    return b.error();
  auto v = get_version(c, b->version_id);
  if (!v)
    return make_error(ec::not_found, "no build '" + id + "'");
  return b;
}

http_response builds_route(route_ctx& c) {
  auto& p = c.parts;
  auto& m = c.req.method;
  auto b = visible_build(c, p[2]);
  if (!b)
    return fail(b.error());
  if (p.size() == 3 && m == "GET")
    return ok_json(build_json(*b));
  if (p.size() == 4 && p[3] == "cancel" && m == "POST") {
    auto r = ask_role<build_status, build_scheduler_actor>(c.self, c.roles, "builds",
                                                           cancel_atom::value, p[2]);
    return r ? ok_json(build_json(*r)) : fail(r.error());
  }
  if (p.size() == 4 && p[3] == "logs" && m == "GET") {
    uint64_t from = 0;
    auto f = query_value(c.req.target, "from");
    if (!f.empty()) {
      auto [ptr, err] = std::from_chars(f.data(), f.data() + f.size(), from);
      if (err != std::errc{} || ptr != f.data() + f.size())
        return fail(ec::bad_request, "from must be a line number");
    }
    auto lines = ask_role<std::vector<log_line>, build_scheduler_actor>(
        c.self, c.roles, "builds", logs_atom::value, p[2], from);
    if (!lines)
      return fail(lines.error());
    auto arr = json_array(*lines, [](const log_line& l) {
      return json{{"seq", l.seq}, {"ms", l.ms}, {"stream", l.stream}, {"text", l.text}};
    });
    return ok_json(
        json{{"build", p[2]}, {"state", b->state}, {"lines", arr}, {"next", from + lines->size()}});
  }
  return fail(ec::not_found, "no route " + m + " " + c.req.target.substr(0, 200));
}

http_response create_version(route_ctx& c, const std::string& project) {
  json doc;
  bool is_capnp = c.req.content_type == "application/x-ferry-manifest";
  bool want_seal = query_flag(c.req.target, "seal");
  if (!is_capnp) {
    doc = json::parse(c.req.body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
      return fail(ec::bad_request, "body is not a JSON object");
    if (doc.contains("seal") && doc["seal"].is_boolean())
      want_seal = want_seal || doc["seal"].get<bool>();
  }
  new_version req;
  req.project = project;
  auto target = query_value(c.req.target, "target");
  if (doc.is_object() && doc.contains("target") && doc["target"].is_string())
    target = doc["target"].get<std::string>();
  if (!target.empty() && target != "production" && target != "preview")
    return fail(ec::bad_request, "\"target\" is production or preview");
  req.target = target.empty() ? "preview" : target;
  std::vector<flat_entry> entries;
  bool has_manifest = is_capnp || doc.contains("files");
  if (has_manifest) {
    if (auto f = read_manifest(c.req, &doc, entries))
      return fail(f->code, f->message);
    built_tree tree; // validate now: a bad manifest leaves no version behind
    if (auto err = build_tree(entries, tree))
      return fail(err.code == "bad_symlink" ? ec::bad_symlink
                  : err.code == "bad_path"  ? ec::bad_path
                                            : ec::bad_request,
                  err.reason);
    req.files = tree.files;
    req.bytes = tree.bytes;
  } else if (doc.contains("root") && doc["root"].is_string()) {
    req.root = doc["root"].get<std::string>();
    if (!is_hash_hex(req.root))
      return fail(ec::bad_request, "\"root\" must be 64 lower-case hex digits");
  } else {
    return fail(ec::bad_request, "give a \"root\" hash or a \"files\" list");
  }
  // Check before creating, so that a refused seal leaves nothing behind.
  if (want_seal) {
    auto s = settle_tree(c.self, c.roles, req.root, has_manifest ? &entries : nullptr);
    if (!s)
      return fail(s.error());
    req.root = s->first;
    req.files = s->second.files;
    req.bytes = s->second.bytes;
    req.sealed = true;
  } else if (has_manifest) {
    req.manifest = manifest_bytes(entries);
  }
  auto v = ask_role<version_info, registry_actor>(c.self, c.roles, "registry", create_atom::value,
                                                  c.who, req);
  if (!v)
    return fail(v.error());
  auto out = version_json(*v);
  if (v->state == "sealed")
    queue_build(c, *v, false, out);
  return ok_json(out, 201);
}

http_response seal_route(route_ctx& c, const std::string& id) {
  auto v = get_version(c, id);
  if (!v)
    return fail(v.error());
  if (v->state != "created")
    return fail(ec::conflict, "version " + id + " is " + v->state + " and can no longer change");
  std::vector<flat_entry> entries;
  bool has_manifest = v->root.empty();
  if (has_manifest) {
    auto bytes = ask_role<std::string, registry_actor>(c.self, c.roles, "registry",
                                                       manifest_atom::value, c.who, id);
    if (!bytes)
      return fail(bytes.error());
    auto m = decode_manifest(*bytes);
    if (!m)
      return fail(m.error());
    entries = std::move(*m);
  }
  auto sealed = seal(c.self, c.roles, c.who, *v, has_manifest ? &entries : nullptr);
  if (!sealed)
    return fail(sealed.error());
  auto out = version_json(*sealed);
  queue_build(c, *sealed, false, out);
  return ok_json(out);
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

http_response missing_route(route_ctx& c) {
  if (c.req.content_type == "application/x-ferry-refs")
    return missing_binary(c);
  auto doc = json::parse(c.req.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return fail(ec::bad_request, "body is not a JSON object");
  find_missing q;
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

/// The output of a version's latest successful build as a tar archive.
http_response artifact_route(route_ctx& c, const std::string& id) {
  auto v = get_version(c, id);
  if (!v)
    return fail(v.error());
  if (v->build_id.empty())
    return fail(ec::not_found, "version " + id + " has not been built");
  auto b = ask_role<build_status, build_scheduler_actor>(c.self, c.roles, "builds", get_atom::value,
                                                         v->build_id);
  if (!b)
    return fail(b.error());
  if (b->state != "built")
    return fail(ec::conflict, "build " + b->id + " is " + b->state + ", not built");
  tar_writer tar;
  std::vector<std::pair<std::string, std::string>> todo{{"", b->artifact_root}};
  std::vector<tree_entry> entries;
  auto tree_ns = static_cast<uint8_t>(blob_ns::output_tree);
  while (!todo.empty()) {
    auto [path, hash] = todo.back();
    todo.pop_back();
    auto node =
        ask_role<blob, cas_actor>(c.self, c.roles, "cas", get_atom::value, blob_ref{tree_ns, hash});
    if (!node)
      return fail(node.error());
    if (auto why = parse_tree(node->data, entries); !why.empty())
      return fail(ec::corrupt, why);
    for (auto& e : entries) {
      auto sub = path.empty() ? e.name : path + "/" + e.name;
      bool ok = true;
      if (e.kind == entry_kind::dir) {
        ok = tar.add_dir(sub);
        todo.emplace_back(sub, e.ref);
      } else if (e.kind == entry_kind::link) {
        ok = tar.add_symlink(sub, e.ref);
      } else {
        auto f = ask_role<blob, cas_actor>(c.self, c.roles, "cas", get_atom::value,
                                           blob_ref{static_cast<uint8_t>(tree_ns - 1), e.ref});
        if (!f)
          return fail(f.error());
        ok = tar.add_file(sub, f->data, e.kind == entry_kind::exec);
      }
      if (!ok)
        return fail(ec::too_large, "path too long for a tar archive: " + sub.substr(0, 200));
    }
  }
  return http_response{200, "application/x-tar", tar.finish()};
}

http_response files_route(route_ctx& c, const std::string& id) {
  auto v = get_version(c, id);
  if (!v)
    return fail(v.error());
  if (v->root.empty())
    return fail(ec::conflict, "version " + id + " has no tree until it is sealed");
  json files = json::array();
  std::vector<std::pair<std::string, std::string>> todo{{"", v->root}};
  std::vector<tree_entry> entries;
  while (!todo.empty()) {
    auto [path, hash] = todo.back();
    todo.pop_back();
    auto node = ask_role<blob, cas_actor>(c.self, c.roles, "cas", get_atom::value,
                                          blob_ref{static_cast<uint8_t>(blob_ns::tree), hash});
    if (!node)
      return fail(node.error());
    if (auto why = parse_tree(node->data, entries); !why.empty())
      return fail(ec::corrupt, why);
    for (auto& e : entries) {
      auto sub = path.empty() ? e.name : path + "/" + e.name;
      if (e.kind == entry_kind::dir)
        todo.emplace_back(sub, e.ref);
      else if (e.kind == entry_kind::link)
        files.push_back(json{{"path", sub}, {"symlink", e.ref}});
      else
        files.push_back(json{{"path", sub},
                             {"hash", e.ref},
                             {"size", e.size},
                             {"executable", e.kind == entry_kind::exec}});
    }
  }
  return ok_json(json{{"id", id}, {"files", files}});
}

/// The deploy target of this cluster (the local runtime; the first deploy node).
template <class R, class... Ts>
caf::expected<R> ask_target(route_ctx& c, const Ts&... xs) {
  return ask_role<R, deploy_target_actor>(c.self, c.roles, target_actor_name("local"), xs...);
}

/// Points an alias at a deployment once it is warm (its functions started
/// and healthy), so that the switch never sends traffic to a cold or
/// broken deployment.
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
  auto warm = ask_target<bool>(c, warm_atom::value, change.deployment);
  if (!warm)
    return fail(ec::unavailable, "deployment " + change.deployment +
                                     " did not pass its health check: " + reason_of(warm.error()));
  auto a = ask_role<alias_info, registry_actor>(c.self, c.roles, "registry", alias_atom::value,
                                                c.who, change);
  return a ? ok_json(alias_json(*a)) : fail(a.error());
}

http_response project_routes(route_ctx& c) {
  auto& p = c.parts;
  auto& m = c.req.method;
  auto n = p.size();
  auto doc = json::parse(c.req.body.empty() ? std::string("{}") : c.req.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return fail(ec::bad_request, "body is not a JSON object");
  auto str = [&](const char* k) {
    return doc.contains(k) && doc[k].is_string() ? doc[k].get<std::string>() : std::string{};
  };
  if (n == 4 && p[3] == "rollback" && m == "POST")
    return move_alias(c, alias_change{"", p[2], str("deployment"), true, true});
  if (n == 4 && p[3] == "aliases" && m == "GET") {
    auto list = ask_role<std::vector<alias_info>, registry_actor>(c.self, c.roles, "registry",
                                                                  alias_atom::value, c.who, p[2]);
    if (!list)
      return fail(list.error());
    return ok_json(json{{"project", p[2]}, {"aliases", json_array(*list, alias_json)}});
  }
  if (n == 4 && p[3] == "aliases" && m == "POST") {
    auto host = str("host");
    if (!host.empty() && host.find('.') == std::string::npos)
      host += "." + urls().domain; // a bare name is a name under the cluster's domain
    if (host.empty() || str("deployment").empty())
      return fail(ec::bad_request, "give {\"host\": ..., \"deployment\": ...}");
    return move_alias(c, alias_change{host, p[2], str("deployment"), false, false});
  }
  if (n >= 4 && p[3] == "env") {
    env_change req{"ls", p[2], query_value(c.req.target, "environment"), "", ""};
    if (n == 4 && m == "POST") {
      req = env_change{"add", p[2], str("environment"), str("name"), str("value")};
      if (!doc.contains("value") || !doc["value"].is_string())
        return fail(ec::bad_request, "give {\"name\", \"value\", \"environment\"}");
    } else if (n == 6 && m == "DELETE") {
      req = env_change{"rm", p[2], p[4], p[5], ""};
    } else if (!(n == 4 && m == "GET")) {
      return fail(ec::not_found, "no route " + m + " " + c.req.target.substr(0, 200));
    }
    auto list = ask_role<std::vector<env_entry>, registry_actor>(c.self, c.roles, "registry",
                                                                 env_atom::value, c.who, req);
    if (!list)
      return fail(list.error());
    auto out = json_array(*list, [](const env_entry& e) {
      return json{{"name", e.name},
                  {"environment", e.environment},
                  {"updated_ms", e.updated_ms},
                  {"updated_by", e.updated_by}};
    });
    return ok_json(json{{"project", p[2]}, {"env", out}}, req.op == "add" ? 201 : 200);
  }
  return fail(ec::not_found, "no route " + m + " " + c.req.target.substr(0, 200));
}

http_response deployment_routes(route_ctx& c) {
  auto& p = c.parts;
  auto& m = c.req.method;
  auto n = p.size();
  if (n == 4 && p[3] == "promote" && m == "POST") {
    auto v = get_version(c, p[2]);
    if (!v)
      return fail(v.error());
    return move_alias(c, alias_change{"", v->project, v->id, true, false});
  }
  if (n == 4 && p[3] == "runtime-logs" && m == "GET") {
    auto v = get_version(c, p[2]);
    if (!v)
      return fail(v.error());
    uint64_t from = 0;
    auto f = query_value(c.req.target, "from");
    if (!f.empty())
      from = std::strtoull(f.c_str(), nullptr, 10);
    auto page = ask_target<log_page>(c, logs_atom::value, p[2], from);
    if (!page)
      return fail(page.error());
    json lines = json::array();
    for (auto& l : page->lines) {
      auto j = json::parse(l, nullptr, false);
      lines.push_back(j.is_discarded() ? json{{"text", l}} : j);
    }
    return ok_json(json{{"deployment", p[2]}, {"lines", lines}, {"next", page->next}});
  }
  if (n == 3 && m == "DELETE") {
    auto v = ask_role<version_info, registry_actor>(c.self, c.roles, "registry", remove_atom::value,
                                                    c.who, p[2]);
    if (!v)
      return fail(v.error());
    ask_target<bool>(c, remove_atom::value, p[2]); // no runtime: nothing to stop
    return ok_json(version_json(*v));
  }
  return fail(ec::not_found, "no route " + m + " " + c.req.target.substr(0, 200));
}

http_response route(route_ctx& c) {
  auto& p = c.parts;
  auto& m = c.req.method;
  auto n = p.size();
  if (n == 2 && p[1] == "whoami" && m == "GET")
    return ok_json(json{{"user", c.who.user}, {"admin", c.who.admin}});
  if (n == 2 && p[1] == "missing" && m == "POST")
    return missing_route(c);
  if (n == 2 && p[1] == "blobs" && m == "POST")
    return put_blobs_route(c, blob_pack{std::move(c.req.body)}, 0);
  if (n == 4 && p[1] == "blobs") {
    auto ns = ns_of(p[2]);
    if (!ns)
      return fail(ec::not_found, "no blob namespace '" + p[2] + "'");
    if (!is_hash_hex(p[3]))
      return fail(ec::bad_request, "a blob is named by 64 lower-case hex digits");
    if (m == "PUT") {
      put_blobs req;
      req.blobs.push_back(blob{*ns, p[3], std::move(c.req.body)});
      return put_blobs_route(c, std::move(req), 1);
    }
    if (m == "GET") {
      if (!c.who.admin)
        return fail(ec::forbidden, "reading raw blobs needs an admin token");
      auto b =
          ask_role<blob, cas_actor>(c.self, c.roles, "cas", get_atom::value, blob_ref{*ns, p[3]});
      if (!b)
        return fail(b.error());
      return http_response{200, "application/octet-stream", std::move(b->data)};
    }
  }
  if (n == 2 && p[1] == "projects" && m == "GET") {
    auto ps = ask_role<std::vector<project_info>, registry_actor>(c.self, c.roles, "registry",
                                                                  list_atom::value, c.who);
    if (!ps)
      return fail(ps.error());
    return ok_json(json{{"projects", json_array(*ps, project_json)}});
  }
  if (n == 3 && p[1] == "projects" && m == "GET") {
    auto x = ask_role<project_info, registry_actor>(c.self, c.roles, "registry",
                                                    project_atom::value, c.who, p[2]);
    return x ? ok_json(project_json(*x)) : fail(x.error());
  }
  if (n == 4 && p[1] == "projects" && p[3] == "versions") {
    if (m == "POST")
      return create_version(c, p[2]);
    if (m == "GET") {
      auto vs = ask_role<std::vector<version_info>, registry_actor>(c.self, c.roles, "registry",
                                                                    list_atom::value, c.who, p[2]);
      if (!vs)
        return fail(vs.error());
      return ok_json(json{{"project", p[2]}, {"versions", json_array(*vs, version_json)}});
    }
  }
  if (n >= 4 && p[1] == "projects" && p[3] != "versions")
    return project_routes(c);
  if (n >= 3 && (p[1] == "versions" || p[1] == "deployments") &&
      ((n == 4 && (p[3] == "promote" || p[3] == "runtime-logs")) || (n == 3 && m == "DELETE")))
    return deployment_routes(c);
  if (n == 3 && p[1] == "aliases" && m == "DELETE") {
    auto a = ask_role<alias_info, registry_actor>(c.self, c.roles, "registry", unalias_atom::value,
                                                  c.who, p[2]);
    return a ? ok_json(alias_json(*a)) : fail(a.error());
  }
  if (n == 3 && p[1] == "admin" && p[2] == "runtime" && m == "GET") {
    if (!c.who.admin)
      return fail(ec::forbidden, "the runtime console needs an admin token");
    auto s = ask_target<std::string>(c, list_atom::value);
    return s ? ok_json(json::parse(*s)) : fail(s.error());
  }
  if (n >= 3 && (p[1] == "versions" || p[1] == "deployments")) {
    if (n == 3 && m == "GET") {
      auto v = get_version(c, p[2]);
      return v ? ok_json(version_json(*v)) : fail(v.error());
    }
    if (n == 4 && p[3] == "seal" && m == "POST")
      return seal_route(c, p[2]);
    if (n == 4 && p[3] == "files" && m == "GET")
      return files_route(c, p[2]);
    if (n == 4 && p[3] == "build" && m == "POST") { // rebuild without any upload
      auto v = get_version(c, p[2]);
      if (!v)
        return fail(v.error());
      if (v->state == "created")
        return fail(ec::conflict, "version " + p[2] + " is not sealed yet");
      json out = version_json(*v);
      queue_build(c, *v, query_flag(c.req.target, "no_cache"), out);
      if (!out.contains("build_status"))
        return fail(ec::unavailable,
                    out.value("build_error", std::string("no build role in this cluster")));
      return ok_json(out["build_status"], 201);
    }
    if (n == 4 && p[3] == "artifact" && m == "GET")
      return artifact_route(c, p[2]);
    if (n == 4 && p[3] == "builds" && m == "GET") {
      auto v = get_version(c, p[2]);
      if (!v)
        return fail(v.error());
      auto list = ask_role<std::vector<build_status>, build_scheduler_actor>(
          c.self, c.roles, "builds", list_atom::value, p[2]);
      auto arr = list ? json_array(*list, build_json) : json::array();
      return ok_json(json{{"version", p[2]}, {"builds", arr}});
    }
  }
  if (n == 2 && p[1] == "users" && m == "POST") {
    auto doc = json::parse(c.req.body, nullptr, false);
    if (doc.is_discarded() || !doc.contains("name") || !doc["name"].is_string())
      return fail(ec::bad_request, "give {\"name\": \"...\"}");
    bool admin = doc.contains("admin") && doc["admin"].is_boolean() && doc["admin"].get<bool>();
    auto token =
        ask_role<std::string, registry_actor>(c.self, c.roles, "registry", user_atom::value, c.who,
                                              doc["name"].get<std::string>(), admin);
    return token ? ok_json(json{{"name", doc["name"]}, {"token", *token}}, 201)
                 : fail(token.error());
  }
  if ((n == 3 || n == 4) && p[1] == "builds")
    return builds_route(c);
  if (n >= 3 && p[1] == "admin" && p[2] == "actors") {
    if (!c.who.admin)
      return fail(ec::forbidden, "the actor console needs an admin token");
    if (n == 3 && m == "GET") {
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
    if (n == 5 && p[4] == "kill" && m == "POST") {
      auto killed = ask<bool>(c.self, c.roles.directory(), kill_atom::value, p[3]);
      if (!killed)
        return fail(killed.error());
      if (!*killed)
        return fail(ec::not_found, "no running actor '" + p[3] + "' on this node");
      c.roles.drop(p[3]);
      return ok_json(json{{"killed", p[3]}});
    }
  }
  return fail(ec::not_found, "no route " + m + " " + c.req.target.substr(0, 200));
}

} // namespace

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

std::string parse_manifest_body(const std::string& content_type, const std::string& body,
                                std::vector<flat_entry>& out) {
  http_request req;
  req.content_type = content_type;
  req.body = body;
  json doc;
  if (content_type != "application/x-ferry-manifest") {
    doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
      return "body is not a JSON object";
  }
  if (auto f = read_manifest(req, &doc, out))
    return f->message;
  return {};
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

http_response handle_request(caf::scoped_actor& self, role_cache& roles, http_request& req) {
  auto parts = split_path(req.target);
  if (req.method == "GET" && parts.size() == 1 && parts[0] == "healthz")
    return ok_json(json{{"ok", true}});
  if (parts.empty() || parts[0] != "v1")
    return fail(ec::not_found, "no route " + req.target.substr(0, 200));
  static constexpr std::string_view bearer = "Bearer ";
  if (req.authorization.size() <= bearer.size() || req.authorization.rfind(bearer, 0) != 0)
    return fail(ec::unauthorized, "missing bearer token (set FERRY_TOKEN or run ferry login)");
  auto who = ask_role<principal, registry_actor>(self, roles, "registry", auth_atom::value,
                                                 req.authorization.substr(bearer.size()));
  if (!who)
    return fail(who.error());
  route_ctx ctx{self, roles, req, std::move(parts), std::move(*who)};
  try {
    return route(ctx);
  } catch (const std::exception& e) {
    return fail(ec::bad_request, std::string("malformed request: ") + e.what());
  }
}

} // namespace ferry
