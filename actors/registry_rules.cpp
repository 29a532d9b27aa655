#include "actors/registry_rules.hpp"

#include "messages/errors.hpp"
#include "sandbox/package_manager.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace ferry {

caf::expected<project_record> authorize(metadata_store& store, const principal& p,
                                        const std::string& name) {
  auto proj = store.find_project(name);
  if (!proj)
    return proj.error();
  if (!*proj || ((*proj)->info.owner != p.user && !p.admin))
    return make_error(ec::not_found, "no project '" + name.substr(0, 63) + "'");
  return **proj;
}

caf::expected<version_record> authorize_version(metadata_store& store, const principal& p,
                                                const std::string& id) {
  auto v = store.find_version(id);
  if (!v)
    return v.error();
  if (!*v)
    return make_error(ec::not_found, "no version '" + id.substr(0, 64) + "'");
  auto proj = authorize(store, p, (*v)->info.project);
  if (!proj) {
    if (code_of(proj.error()) == ec::not_found) // do not tell others that it exists
      return make_error(ec::not_found, "no version '" + id.substr(0, 64) + "'");
    return proj.error();
  }
  return **v;
}

caf::expected<version_record> authorize_version_of(metadata_store& store, const std::string& user,
                                                   const std::string& id) {
  auto p = store.find_user(user);
  if (!p)
    return p.error();
  if (!*p)
    return make_error(ec::not_found, "no version '" + id.substr(0, 64) + "'");
  return authorize_version(store, **p, id);
}

namespace {

constexpr size_t keep_dep_caches = 3; ///< a project's dependency caches in the cluster

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(),
                                       [](char c) { return std::isxdigit(c) && !std::isupper(c); });
}

} // namespace

caf::expected<gc_roots> apply_retention(metadata_store& store, uint32_t keep) {
  // The retention rule: a project keeps its last `keep` versions, and
  // any version an alias serves or a production history may roll
  // back to, or that is not done (uploading, sealed, building); the
  // rest are removed. The trees of what is kept are returned: the
  // collector marks from them (the system's own request: no user).
  auto aliases = store.list_aliases();
  if (!aliases)
    return aliases.error();
  std::set<std::string> served;
  for (auto& a : *aliases) {
    served.insert(a.deployment);
    served.insert(a.history.begin(), a.history.end());
  }
  auto projects = store.list_projects();
  if (!projects)
    return projects.error();
  gc_roots out;
  auto& roots = out.roots;
  for (auto& p : *projects) {
    auto versions = store.list_versions(p.name);
    if (!versions)
      return versions.error();
    std::sort(versions->begin(), versions->end(),
              [](auto& a, auto& b) { return a.number > b.number; });
    uint32_t newer = 0;
    for (auto& v : *versions) {
      if (v.state == "removed")
        continue;
      bool done = v.state == "built" || v.state == "failed" || v.state == "canceled";
      if (done && newer >= keep && !served.count(v.id)) {
        auto rec = store.find_version(v.id);
        if (rec && *rec) {
          (*rec)->info.state = "removed";
          if (auto err = store.put_version(**rec, nullptr))
            return err;
          ++out.removed;
        }
        continue;
      }
      ++newer;
      ++out.kept;
      if (!v.root.empty())
        roots.push_back(blob_ref{static_cast<uint8_t>(blob_ns::tree), v.root});
      if (!v.artifact.empty())
        roots.push_back(blob_ref{static_cast<uint8_t>(blob_ns::output_tree), v.artifact});
    }
  }
  // and the dependency caches the projects keep
  auto caches = store.list_dep_caches("");
  if (!caches)
    return caches.error();
  for (auto& c : *caches)
    out.caches.push_back(blob_ref{static_cast<uint8_t>(blob_ns::tree), c.root});
  return out;
}

caf::expected<dep_cache_info> find_dep_cache(metadata_store& store, const std::string& user,
                                             const std::string& id, const std::string& key,
                                             int64_t now_ms) {
  // a build asks for its project's dependency cache: found, it is the
  // most recently used one now (kept longest)
  if (!sandbox::is_dep_cache_key(key))
    return make_error(ec::bad_request,
                      "a dependency cache key is a package manager, - and a SHA-256");
  auto v = authorize_version_of(store, user, id);
  if (!v)
    return v.error();
  auto all = store.list_dep_caches(v->info.project);
  if (!all)
    return all.error();
  for (auto& c : *all)
    if (c.key == key) {
      c.used_ms = now_ms;
      if (auto err = store.put_dep_cache(c))
        return err;
      return c;
    }
  return dep_cache_info{v->info.project, key, {}, 0, 0};
}

caf::expected<dep_cache_info> put_dep_cache(metadata_store& store, const std::string& user,
                                            const std::string& id, const std::string& key,
                                            const std::string& root, uint64_t bytes,
                                            int64_t now_ms) {
  // a build stored a dependency cache's tree (every blob on its
  // replicas): from now on, any build node finds it; the project's
  // least recently used beyond keep_dep_caches are let go (their
  // blobs with the next collection)
  if (!sandbox::is_dep_cache_key(key) || !is_hex64(root))
    return make_error(ec::bad_request,
                      "a dependency cache is a key (a package manager, - and a SHA-256) "
                      "and the SHA-256 of a tree");
  auto v = authorize_version_of(store, user, id);
  if (!v)
    return v.error();
  dep_cache_info c{v->info.project, key, root, bytes, now_ms};
  if (auto err = store.put_dep_cache(c))
    return err;
  auto all = store.list_dep_caches(v->info.project);
  if (!all)
    return all.error();
  std::sort(all->begin(), all->end(), [](auto& a, auto& b) { return a.used_ms > b.used_ms; });
  for (size_t i = keep_dep_caches; i < all->size(); ++i)
    if (auto gone = store.remove_dep_cache((*all)[i].project, (*all)[i].key); !gone)
      return gone.error();
  return c;
}

} // namespace ferry
