// Versions: made from a manifest or a root, sealed, read, and their files.
#include "actors/api/common.hpp"
#include "actors/api/handlers.hpp"
#include "actors/host_names.hpp"

#include "messages/records.capnp.h"
#include "storage/capnp_record.hpp"
#include "storage/paths.hpp"
#include "storage/sha256.hpp"
#include "storage/tree.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

namespace ferry {

namespace api {

namespace {

/// A failed request: the HTTP status comes from the code.
struct failure {
  ec code;
  std::string message;
};

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
/// every file blob must be stored and the owner's, then the directory nodes
/// are stored (and the owner's); a root must name a stored, valid tree
/// whose every blob is the owner's. Nothing is written if a check fails.
caf::expected<std::pair<std::string, tree_stats>> settle_tree(caf::scoped_actor& self,
                                                              role_cache& roles, std::string root,
                                                              std::vector<flat_entry>* manifest,
                                                              const std::string& owner) {
  if (manifest) {
    built_tree tree;
    if (auto err = build_tree(*manifest, tree))
      return make_error(err.code == "bad_symlink" ? ec::bad_symlink
                        : err.code == "bad_path"  ? ec::bad_path
                                                  : ec::bad_request,
                        err.reason);
    find_missing q;
    q.owner = owner;
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
    nodes.owner = owner;
    for (auto& n : tree.nodes)
      nodes.blobs.push_back(blob{static_cast<uint8_t>(blob_ns::tree), n.hash, n.bytes});
    auto stored = ask_role<put_ack, cas_actor>(self, roles, "cas", put_atom::value, nodes);
    if (!stored)
      return stored.error();
    root = tree.root;
  }
  // A walk's result depends only on the root and the owner: remember it.
  auto walked = owner + '\0' + root;
  if (auto known = roles.walked(walked))
    return std::make_pair(root, *known);
  auto stats = ask_role<tree_stats, cas_actor>(
      self, roles, "cas", walk_atom::value,
      walk_request{blob_ref{static_cast<uint8_t>(blob_ns::tree), root}, owner});
  if (!stats)
    return stats.error();
  roles.remember_walk(walked, *stats);
  return std::make_pair(root, *stats);
}

caf::expected<version_info> seal(caf::scoped_actor& self, role_cache& roles, const principal& who,
                                 const version_info& v, std::vector<flat_entry>* manifest) {
  auto settled = settle_tree(self, roles, v.root, manifest, who.user);
  if (!settled)
    return settled.error();
  auto& [root, stats] = *settled;
  return ask_role<version_info, registry_actor>(self, roles, "registry", seal_atom::value, who,
                                                seal_version{v.id, root, stats.files, stats.bytes});
}

} // namespace

http_response create_version(route_ctx& c) {
  const auto& project = c.param("p");
  if (auto why = check_project_name(project); !why.empty())
    return fail(ec::bad_request, "project " + why);
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
    // the caller's root, or as good as absent (want_seal checks the whole tree)
    find_missing q{{blob_ref{static_cast<uint8_t>(blob_ns::tree), req.root}}, c.who.user};
    auto missing = ask_role<missing_set, cas_actor>(c.self, c.roles, "cas", missing_atom::value, q);
    if (!missing)
      return fail(missing.error());
    if (!missing->indices.empty())
      return fail(ec::missing_blobs, "the root " + req.root.substr(0, 16) + " is not stored");
  } else {
    return fail(ec::bad_request, "give a \"root\" hash or a \"files\" list");
  }
  // Check before creating, so that a refused seal leaves nothing behind.
  if (want_seal) {
    auto s = settle_tree(c.self, c.roles, req.root, has_manifest ? &entries : nullptr, c.who.user);
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

http_response seal_route(route_ctx& c) {
  const auto& id = c.param("id");
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

http_response version_route(route_ctx& c) {
  auto v = get_version(c, c.param("id"));
  return v ? ok_json(version_json(*v)) : fail(v.error());
}

http_response version_files(route_ctx& c) {
  const auto& id = c.param("id");
  auto v = get_version(c, id);
  if (!v)
    return fail(v.error());
  if (v->root.empty())
    return fail(ec::conflict, "version " + id + " has no tree until it is sealed");
  if (v->state == "created") // (sealing checks that the whole tree is the caller's)
    return fail(ec::conflict, "version " + id + " lists its files once it is sealed");
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

} // namespace api

using api::failure;
using api::json;
using api::read_manifest;

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

} // namespace ferry
