#include "actors/version_registry.hpp"

#include "messages/errors.hpp"
#include "storage/sha256.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <openssl/rand.h>

#include <set>

namespace ferry {

registry_actor spawn_version_registry(caf::actor_system& sys, std::shared_ptr<metadata_store> store,
                                      std::function<int64_t()> now_ms) {
  return sys.spawn<caf::detached>(version_registry, std::move(store), std::move(now_ms));
}

std::string new_token() {
  uint8_t raw[20];
  RAND_bytes(raw, sizeof raw);
  return "fry_" + to_hex(raw, sizeof raw);
}

std::string check_project_name(const std::string& name) {
  if (name.empty() || name.size() > 63)
    return "name must be 1 to 63 characters";
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return "name '" + name.substr(0, 63) + "' may hold only a-z, 0-9 and '-'";
  if (name.front() == '-' || name.back() == '-')
    return "name '" + name + "' may not start or end with '-'";
  return {};
}

namespace {

std::string new_version_id() {
  // 13 characters of base32 (65 bits): short, DNS-safe, unguessable enough for URLs.
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  uint8_t raw[13];
  RAND_bytes(raw, sizeof raw);
  std::string id;
  for (auto b : raw)
    id += alphabet[b & 31];
  return id;
}

template <class T>
caf::error unwrap(caf::expected<T>& x) {
  return x ? caf::error{} : x.error();
}

/// The project if p may use it: not_found, forbidden or a storage error otherwise.
caf::expected<project_record> authorize(metadata_store& store, const principal& p,
                                        const std::string& name) {
  auto proj = store.find_project(name);
  if (!proj)
    return proj.error();
  if (!*proj)
    return make_error(ec::not_found, "no project '" + name + "'");
  if ((*proj)->info.owner != p.user && !p.admin)
    return make_error(ec::forbidden, "user '" + p.user + "' may not use project '" + name + "'");
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
    if (code_of(proj.error()) == ec::forbidden) // do not tell others that it exists
      return make_error(ec::not_found, "no version '" + id + "'");
    return proj.error();
  }
  return **v;
}

} // namespace

registry_actor::behavior_type version_registry(
    registry_actor::stateful_pointer<registry_state> self, std::shared_ptr<metadata_store> store,
    std::function<int64_t()> now_ms) {
  self->state.store = store;
  self->state.now_ms = std::move(now_ms);
  auto& st = self->state;
  return {
      [&st](auth_atom, const std::string& token) -> caf::result<principal> {
        auto p = st.store->find_token(token);
        if (!p)
          return std::move(p.error());
        if (!*p)
          return make_error(ec::unauthorized, "unknown token");
        return **p;
      },
      [&st](user_atom, const principal& p, const std::string& name,
            bool admin) -> caf::result<std::string> {
        if (!p.admin)
          return make_error(ec::forbidden, "only an admin may create users");
        if (auto why = check_project_name(name); !why.empty())
          return make_error(ec::bad_request, "user " + why);
        auto existing = st.store->find_user(name);
        if (!existing)
          return std::move(existing.error());
        if (*existing)
          return make_error(ec::conflict, "user '" + name + "' exists");
        auto token = new_token();
        if (auto err = st.store->add_user(principal{name, admin}, token, st.now_ms()))
          return err;
        return token;
      },
      [&st](project_atom, const principal& p,
            const std::string& name) -> caf::result<project_info> {
        auto proj = authorize(*st.store, p, name);
        if (!proj)
          return std::move(proj.error());
        return proj->info;
      },
      [&st](list_atom, const principal& p) -> caf::result<std::vector<project_info>> {
        auto all = st.store->list_projects();
        if (!all)
          return std::move(all.error());
        std::vector<project_info> out;
        for (auto& x : *all)
          if (p.admin || x.owner == p.user)
            out.push_back(std::move(x));
        return out;
      },
      [&st](list_atom, const principal& p,
            const std::string& project) -> caf::result<std::vector<version_info>> {
        auto proj = authorize(*st.store, p, project);
        if (!proj)
          return std::move(proj.error());
        auto vs = st.store->list_versions(project);
        if (!vs)
          return std::move(vs.error());
        return std::move(*vs);
      },
      [&st](create_atom, const principal& p, const new_version& req) -> caf::result<version_info> {
        if (auto why = check_project_name(req.project); !why.empty())
          return make_error(ec::bad_request, "project " + why);
        auto found = st.store->find_project(req.project);
        if (!found)
          return std::move(found.error());
        project_record proj;
        if (*found) {
          proj = **found;
          if (proj.info.owner != p.user && !p.admin)
            return make_error(ec::forbidden,
                              "user '" + p.user + "' may not use project '" + req.project + "'");
        } else {
          proj.info = project_info{req.project, p.user, st.now_ms(), 0};
        }
        version_record v;
        do { // 65 random bits: a collision is all but impossible, but never silent
          v.info.id = new_version_id();
          auto taken = st.store->find_version(v.info.id);
          if (!taken)
            return std::move(taken.error());
          if (!*taken)
            break;
        } while (true);
        v.info.project = req.project;
        v.info.number = proj.next_number++;
        v.info.state = req.sealed ? "sealed" : "created";
        v.info.root = req.root;
        v.info.files = req.files;
        v.info.bytes = req.bytes;
        v.info.created_ms = st.now_ms();
        v.info.sealed_ms = req.sealed ? v.info.created_ms : 0;
        v.info.created_by = p.user;
        v.manifest = req.sealed ? std::string{} : req.manifest;
        proj.info.versions = proj.next_number - 1;
        if (auto err = st.store->put_version(v, &proj))
          return err;
        return v.info;
      },
      [&st](get_atom, const principal& p, const std::string& id) -> caf::result<version_info> {
        auto v = authorize_version(*st.store, p, id);
        if (!v)
          return std::move(v.error());
        return v->info;
      },
      [&st](manifest_atom, const principal& p, const std::string& id) -> caf::result<std::string> {
        auto v = authorize_version(*st.store, p, id);
        if (!v)
          return std::move(v.error());
        return v->manifest;
      },
      [&st](build_atom, const std::string& id, const std::string& state, const std::string& build) {
        static const std::set<std::string> states{"queued", "building", "built", "failed",
                                                  "canceled"};
        auto v = st.store->find_version(id);
        if (!v || !*v || !states.count(state) || (*v)->info.state == "created")
          return;
        auto& rec = **v;
        // an older build finishing late does not overwrite a newer one
        if (!rec.info.build_id.empty() && rec.info.build_id != build && state != "queued")
          return;
        rec.info.state = state;
        rec.info.build_id = build;
        st.store->put_version(rec, nullptr);
      },
      [&st](seal_atom, const principal& p, const seal_version& req) -> caf::result<version_info> {
        auto v = authorize_version(*st.store, p, req.id);
        if (!v)
          return std::move(v.error());
        if (v->info.state != "created")
          return make_error(ec::conflict, "version " + req.id + " is " + v->info.state +
                                              " and can no longer change");
        if (!v->info.root.empty() && v->info.root != req.root)
          return make_error(ec::conflict, "version " + req.id + " has another root");
        v->info.state = "sealed";
        v->info.root = req.root;
        v->info.files = req.files;
        v->info.bytes = req.bytes;
        v->info.sealed_ms = st.now_ms();
        v->manifest.clear(); // the tree in storage now says it all
        if (auto err = st.store->put_version(*v, nullptr))
          return err;
        return v->info;
      },
  };
}

} // namespace ferry
