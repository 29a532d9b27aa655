#include "actors/version_registry.hpp"

#include "actors/registry_rules.hpp"

#include "deployers/local/http_text.hpp"
#include "messages/errors.hpp"
#include "storage/secret_box.hpp"
#include "storage/sha256.hpp"

#include <pthread.h>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <openssl/rand.h>

#include <algorithm>
#include <set>

namespace ferry {

registry_actor spawn_version_registry(caf::actor_system& sys, std::shared_ptr<metadata_store> store,
                                      std::function<int64_t()> now_ms, registry_options opts) {
  return sys.spawn<caf::detached>(version_registry, std::move(store), std::move(now_ms),
                                  std::move(opts));
}

std::string check_env_name(const std::string& name) {
  if (name.empty() || name.size() > 256)
    return "a variable name has 1 to 256 characters";
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok)
      return "a variable name is letters, digits and '_', not starting with a digit: '" +
             name.substr(0, 64) + "'";
  }
  if (name.rfind("FERRY_", 0) == 0)
    return "names starting with FERRY_ are ferry's own";
  return {};
}

std::string new_token() {
  uint8_t raw[20];
  RAND_bytes(raw, sizeof raw);
  return "fry_" + to_hex(raw, sizeof raw);
}

namespace {

constexpr size_t max_env_vars = 100;         ///< in an environment of a project
constexpr size_t max_env_bytes = 64 << 10;   ///< names and values, in all
constexpr size_t sealed_overhead = 12 + 16;  ///< a nonce and a tag: secret_box.hpp
constexpr size_t max_mask_bytes = 512 << 10; ///< the forms of its values, in all

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

bool is_environment(const std::string& e) {
  return e == "production" || e == "preview";
}

std::string env_aad(const std::string& project, const std::string& environment,
                    const std::string& name) {
  return project + '\0' + environment + '\0' + name;
}

/// Whether a version of `bytes` more fits in the project's bounds; the
/// error says which it would pass.
caf::error check_quota(metadata_store& store, const registry_options& opts,
                       const std::string& project, uint64_t bytes) {
  auto mib = [](uint64_t b) { return std::to_string((b + (1 << 20) - 1) >> 20) + " MiB"; };
  if (bytes > opts.max_deploy_bytes)
    return make_error(ec::too_large, "the version holds " + mib(bytes) + ", over the " +
                                         mib(opts.max_deploy_bytes) +
                                         " a deploy may have (max_deploy_mb)");
  auto versions = store.list_versions(project);
  if (!versions)
    return versions.error();
  uint64_t kept = 0;
  for (auto& v : *versions)
    if (v.state != "created" && v.state != "removed")
      kept += v.bytes;
  if (kept + bytes > opts.max_project_bytes)
    return make_error(ec::too_large, "project " + project + " keeps " + mib(kept) +
                                         " in its versions; this one (" + mib(bytes) +
                                         ") would pass its " + mib(opts.max_project_bytes) +
                                         " (max_project_mb): ferry rm old deployments first");
  return {};
}

/// Whether p may start one more project (max_projects; an admin may).
caf::error check_new_project(metadata_store& store, const registry_options& opts,
                             const principal& p) {
  if (p.admin)
    return {};
  auto all = store.list_projects();
  if (!all)
    return all.error();
  auto owned = std::count_if(all->begin(), all->end(),
                             [&](const project_info& i) { return i.owner == p.user; });
  if (static_cast<uint64_t>(owned) >= opts.max_projects)
    return make_error(ec::too_large, "you own " + std::to_string(owned) +
                                         " projects, as many as a user may (max_projects in "
                                         "cluster.conf: an operator may raise it)");
  return {};
}

} // namespace

using registry_ptr = registry_actor::stateful_pointer<registry_state>;

/// Tells every subscribed runtime of an alias change, then replies with it:
/// when the client hears back, every router serves the new target.
caf::result<alias_info> announce(registry_ptr self, alias_info a) {
  auto& subs = self->state.subscribers;
  if (subs.empty())
    return a;
  auto rp = self->make_response_promise<alias_info>();
  auto left = std::make_shared<size_t>(subs.size());
  for (auto& sub : subs) {
    auto done = [rp, left, a]() mutable {
      if (--*left == 0)
        rp.deliver(a);
    };
    // a runtime that does not answer in time is cut off from traffic anyway
    self->request(sub, std::chrono::seconds(5), alias_atom::value, a)
        .then([done](bool) mutable { done(); }, [done](caf::error&) mutable { done(); });
  }
  return rp;
}

registry_actor::behavior_type version_registry(registry_ptr self,
                                               std::shared_ptr<metadata_store> store,
                                               std::function<int64_t()> now_ms,
                                               registry_options opts) {
  pthread_setname_np(pthread_self(), "ferry-registry");
  self->state.store = store;
  self->state.now_ms = std::move(now_ms);
  self->state.opts = std::move(opts);
  auto& st = self->state;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const caf::actor& a) { return a.address() == dm.source; }),
               subs.end());
  });
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
          if (proj.info.owner != p.user && !p.admin) // (the name is taken: that much shows)
            return make_error(ec::conflict, "the project name '" + req.project +
                                                "' is taken; choose another (--project NAME)");
        } else {
          if (auto err = check_new_project(*st.store, st.opts, p))
            return err;
          proj.info = project_info{req.project, p.user, st.now_ms(), 0};
        }
        if (req.sealed)
          if (auto err = check_quota(*st.store, st.opts, req.project, req.bytes))
            return err;
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
        v.info.target = req.target == "production" ? "production" : "preview";
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
      [&st](build_atom, const std::string& id, const std::string& state, const std::string& build,
            const std::string& artifact) {
        static const std::set<std::string> states{"queued", "building", "built", "failed",
                                                  "canceled"};
        auto v = st.store->find_version(id);
        if (!v || !*v || !states.count(state) || (*v)->info.state == "created")
          return;
        auto& rec = **v;
        // an older build finishing late does not overwrite a newer one
        if (!rec.info.build_id.empty() && rec.info.build_id != build && state != "queued")
          return;
        if (rec.info.state == "removed")
          return;
        rec.info.state = state;
        rec.info.build_id = build;
        if (state == "built")
          rec.info.artifact = artifact;
        st.store->put_version(rec, nullptr);
      },
      [self, &st](alias_atom, const principal& p,
                  const alias_change& req) -> caf::result<alias_info> {
        auto proj = authorize(*st.store, p, req.project);
        if (!proj)
          return std::move(proj.error());
        std::string host = req.production ? req.project + "." + st.opts.domain : req.host;
        if (!req.production) {
          auto owner_of = [&](const std::string& name) -> std::optional<std::string> {
            auto d = st.store->find_domain(name);
            if (d && *d)
              return (*d)->project;
            return std::nullopt;
          };
          if (auto why = check_alias_host(host, req.project, st.opts.domain, owner_of);
              !why.empty())
            return make_error(ec::bad_request, why);
        } else if (auto why = check_host_name(host); !why.empty()) {
          return make_error(ec::bad_request, why);
        }
        auto existing = st.store->find_alias(host);
        if (!existing)
          return std::move(existing.error());
        alias_info a;
        if (*existing) {
          a = **existing;
          if (a.project != req.project)
            return make_error(ec::conflict, "host " + host + " is an alias of another project");
          if (a.production != req.production)
            return make_error(ec::conflict, "host " + host + " is the production alias of " +
                                                a.project + "; use promote or rollback");
        }
        a.host = host;
        a.project = req.project;
        a.production = req.production;
        std::string target = req.deployment;
        if (target.empty()) {
          if (!req.rollback)
            return make_error(ec::bad_request, "give the deployment the alias points at");
          // the newest earlier deployment that is still there
          while (!a.history.empty() && target.empty()) {
            auto prev = st.store->find_version(a.history.back());
            a.history.pop_back();
            if (prev && *prev && (*prev)->info.state == "built")
              target = (*prev)->info.id;
          }
          if (target.empty())
            return make_error(ec::conflict,
                              "project " + req.project + " has no earlier production deployment");
        }
        auto v = st.store->find_version(target);
        if (!v)
          return std::move(v.error());
        if (!*v || (*v)->info.project != req.project)
          return make_error(ec::not_found,
                            "no deployment '" + target.substr(0, 64) + "' in " + req.project);
        if ((*v)->info.state != "built")
          return make_error(ec::conflict, "deployment " + target + " is " + (*v)->info.state +
                                              ", not built: it cannot take traffic");
        if (req.rollback) {
          a.history.erase(std::remove(a.history.begin(), a.history.end(), target), a.history.end());
        } else if (req.production && !a.deployment.empty() && a.deployment != target) {
          a.history.erase(std::remove(a.history.begin(), a.history.end(), a.deployment),
                          a.history.end());
          a.history.push_back(a.deployment);
          if (a.history.size() > 20)
            a.history.erase(a.history.begin());
        }
        a.deployment = target;
        a.updated_ms = st.now_ms();
        a.updated_by = p.user;
        if (auto err = st.store->put_alias(a))
          return err;
        return announce(self, a);
      },
      [&st](alias_atom, const principal& p,
            const std::string& project) -> caf::result<std::vector<alias_info>> {
        auto proj = authorize(*st.store, p, project);
        if (!proj)
          return std::move(proj.error());
        auto all = st.store->list_aliases();
        if (!all)
          return std::move(all.error());
        std::vector<alias_info> out;
        for (auto& a : *all)
          if (a.project == project)
            out.push_back(std::move(a));
        return out;
      },
      [self, &st](unalias_atom, const principal& p,
                  const std::string& host) -> caf::result<alias_info> {
        auto a = st.store->find_alias(host);
        if (!a)
          return std::move(a.error());
        if (!*a)
          return make_error(ec::not_found, "no alias '" + host.substr(0, 253) + "'");
        auto proj = authorize(*st.store, p, (*a)->project);
        if (!proj) {
          if (code_of(proj.error()) == ec::not_found)
            return make_error(ec::not_found, "no alias '" + host.substr(0, 253) + "'");
          return std::move(proj.error());
        }
        auto removed = st.store->remove_alias(host);
        if (!removed)
          return std::move(removed.error());
        auto gone = **a;
        gone.deployment.clear();
        gone.updated_ms = st.now_ms();
        gone.updated_by = p.user;
        return announce(self, gone);
      },
      [self, &st](subscribe_atom, caf::actor sub) -> caf::result<std::vector<alias_info>> {
        auto all = st.store->list_aliases();
        if (!all)
          return std::move(all.error());
        if (std::find(st.subscribers.begin(), st.subscribers.end(), sub) == st.subscribers.end()) {
          self->monitor(sub);
          st.subscribers.push_back(sub);
        }
        return std::move(*all);
      },
      [&st](resolve_atom, const std::string& id) -> caf::result<deployment_ref> {
        auto v = st.store->find_version(id);
        if (!v)
          return std::move(v.error());
        if (!*v)
          return make_error(ec::not_found, "no deployment '" + id.substr(0, 64) + "'");
        auto& i = (*v)->info;
        auto proj = st.store->find_project(i.project);
        if (!proj)
          return std::move(proj.error());
        return deployment_ref{i.id,       i.project, i.state,
                              i.artifact, i.target,  *proj ? (*proj)->info.owner : i.project};
      },
      [&st](domain_atom, const principal& p,
            const domain_change& req) -> caf::result<std::vector<domain_info>> {
        if (req.op == "add" || req.op == "rm") {
          if (!p.admin)
            return make_error(ec::forbidden, "only an admin assigns domains to projects");
          if (req.op == "add") {
            if (auto why = check_assignable_domain(req.name, st.opts.domain); !why.empty())
              return make_error(ec::bad_request, why);
            auto proj = authorize(*st.store, p, req.project);
            if (!proj)
              return std::move(proj.error());
            auto taken = st.store->find_domain(req.name);
            if (!taken)
              return std::move(taken.error());
            if (*taken && (*taken)->project != req.project)
              return make_error(ec::conflict,
                                req.name + " is assigned to project " + (*taken)->project);
            if (auto err =
                    st.store->put_domain(domain_info{req.name, req.project, st.now_ms(), p.user}))
              return err;
          } else {
            auto removed = st.store->remove_domain(req.name);
            if (!removed)
              return std::move(removed.error());
            if (!*removed)
              return make_error(ec::not_found, "no domain " + req.name.substr(0, 253));
          }
        } else if (req.op != "ls") {
          return make_error(ec::bad_request, "domain: add, rm or ls");
        }
        if (!req.project.empty()) {
          auto proj = authorize(*st.store, p, req.project);
          if (!proj)
            return std::move(proj.error());
        } else if (!p.admin) {
          return make_error(ec::bad_request, "give the project whose domains to list");
        }
        auto all = st.store->list_domains();
        if (!all)
          return std::move(all.error());
        std::vector<domain_info> out;
        for (auto& d : *all)
          if (req.project.empty() || d.project == req.project)
            out.push_back(std::move(d));
        return out;
      },
      [&st](env_atom, const principal& p,
            const env_change& req) -> caf::result<std::vector<env_entry>> {
        auto proj = authorize(*st.store, p, req.project);
        auto exists = st.store->find_project(req.project);
        if (!exists)
          return std::move(exists.error());
        if (!proj && !*exists && req.op == "add") {
          // variables may come before the first deploy: the project starts here
          if (auto why = check_project_name(req.project); !why.empty())
            return make_error(ec::bad_request, "project " + why);
          if (auto err = check_new_project(*st.store, st.opts, p))
            return err;
          project_record fresh;
          fresh.info = project_info{req.project, p.user, st.now_ms(), 0};
          if (auto err = st.store->put_project(fresh))
            return err;
          proj = fresh;
        }
        if (!proj)
          return std::move(proj.error());
        if (req.op != "ls") {
          if (!is_environment(req.environment))
            return make_error(ec::bad_request, "the environment is production or preview, not '" +
                                                   req.environment.substr(0, 64) + "'");
          if (auto why = check_env_name(req.name); !why.empty())
            return make_error(ec::bad_request, why);
        }
        if (req.op == "add") {
          // what a function's environment holds is bounded (as on Vercel:
          // 64 KiB in all), and with it the work of masking its output
          if (req.value.size() > max_env_bytes)
            return make_error(ec::too_large, "a value has at most 64 KiB");
          auto now = st.store->list_env(req.project);
          if (!now)
            return std::move(now.error());
          // and the forms of its values the logs are masked with (one trie
          // of them per environment: 512 KiB of forms, some 14 MiB)
          auto weight = [](const std::string& value) {
            size_t n = 0;
            if (value.size() >= 4)
              for (auto& f : runtime::secret_forms(value))
                n += f.size();
            return n;
          };
          size_t count = 1, bytes = req.name.size() + req.value.size();
          size_t forms = weight(req.value);
          for (auto& r : *now)
            if (r.entry.environment == req.environment && r.entry.name != req.name) {
              ++count;
              bytes += r.entry.name.size() + r.sealed.size() - sealed_overhead;
              auto plain = open_secret(st.opts.secret_key, r.sealed,
                                       env_aad(req.project, req.environment, r.entry.name));
              forms += plain ? weight(*plain) : 0;
            }
          if (forms > max_mask_bytes)
            return make_error(ec::too_large,
                              "the values of an environment take at most 512 KiB once "
                              "written every way a log could show them (escaped, "
                              "URL-encoded): " +
                                  std::to_string(forms) + " bytes with this one");
          if (count > max_env_vars)
            return make_error(ec::too_large, "an environment has at most " +
                                                 std::to_string(max_env_vars) + " variables");
          if (bytes > max_env_bytes)
            return make_error(ec::too_large,
                              "the variables of an environment have at most 64 KiB in all, "
                              "names and values (" +
                                  std::to_string(bytes) + " bytes with this one)");
          metadata_store::env_record r;
          r.entry = env_entry{req.name, req.environment, st.now_ms(), p.user};
          r.sealed = seal_secret(st.opts.secret_key, req.value,
                                 env_aad(req.project, req.environment, req.name));
          if (auto err = st.store->put_env(req.project, r))
            return err;
        } else if (req.op == "rm") {
          auto removed = st.store->remove_env(req.project, req.environment, req.name);
          if (!removed)
            return std::move(removed.error());
          if (!*removed)
            return make_error(ec::not_found, "no variable " + req.name + " in " + req.project +
                                                 " (" + req.environment + ")");
        } else if (req.op != "ls") {
          return make_error(ec::bad_request, "env: add, rm or ls");
        }
        auto list = st.store->list_env(req.project);
        if (!list)
          return std::move(list.error());
        std::vector<env_entry> out;
        for (auto& r : *list)
          if (req.environment.empty() || req.op != "ls" || r.entry.environment == req.environment)
            out.push_back(r.entry);
        return out;
      },
      [&st](secrets_atom, const principal& p, const std::string& id,
            const std::string& environment) -> caf::result<std::vector<std::string>> {
        // for a deployment that is live and whose project p owns: the
        // runtime asks in the name of the project's owner, never for a bare
        // project name
        if (!is_environment(environment))
          return make_error(ec::bad_request, "the environment is production or preview");
        auto v = authorize_version(*st.store, p, id);
        if (!v)
          return std::move(v.error());
        if (v->info.state == "removed")
          return make_error(ec::not_found, "deployment " + id + " was removed");
        const auto& project = v->info.project;
        auto list = st.store->list_env(project);
        if (!list)
          return std::move(list.error());
        std::vector<std::string> out;
        for (auto& r : *list) {
          if (r.entry.environment != environment)
            continue;
          auto plain = open_secret(st.opts.secret_key, r.sealed,
                                   env_aad(project, environment, r.entry.name));
          if (!plain)
            return std::move(plain.error());
          out.push_back(r.entry.name);
          out.push_back(std::move(*plain));
        }
        return out;
      },
      [&st](remove_atom, const principal& p, const std::string& id) -> caf::result<version_info> {
        auto v = authorize_version(*st.store, p, id);
        if (!v)
          return std::move(v.error());
        auto all = st.store->list_aliases();
        if (!all)
          return std::move(all.error());
        for (auto& a : *all)
          if (a.deployment == id)
            return make_error(ec::conflict, "deployment " + id + " is served at " + a.host +
                                                "; point the alias elsewhere first");
        v->info.state = "removed";
        if (auto err = st.store->put_version(*v, nullptr))
          return err;
        return v->info;
      },
      [&st](list_atom, build_atom) -> caf::result<std::vector<version_info>> {
        // the versions being built (queued or building): the dispatcher
        // checks that a builder still has each one's build
        std::vector<version_info> out;
        auto projects = st.store->list_projects();
        if (!projects)
          return std::move(projects.error());
        for (auto& p : *projects) {
          auto versions = st.store->list_versions(p.name);
          if (!versions)
            return std::move(versions.error());
          for (auto& v : *versions)
            if ((v.state == "queued" || v.state == "building") && !v.build_id.empty())
              out.push_back(v);
        }
        return out;
      },
      [&st](gc_atom, uint32_t keep) -> caf::result<gc_roots> {
        auto out = apply_retention(*st.store, keep);
        if (!out)
          return std::move(out.error());
        return std::move(*out);
      },
      [&st](cache_atom, const std::string& user, const std::string& id,
            const std::string& key) -> caf::result<dep_cache_info> {
        auto out = find_dep_cache(*st.store, user, id, key, st.now_ms());
        if (!out)
          return std::move(out.error());
        return std::move(*out);
      },
      [&st](cache_atom, const std::string& user, const std::string& id, const std::string& key,
            const std::string& root, uint64_t bytes) -> caf::result<dep_cache_info> {
        auto out = put_dep_cache(*st.store, user, id, key, root, bytes, st.now_ms());
        if (!out)
          return std::move(out.error());
        return std::move(*out);
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
        if (auto err = check_quota(*st.store, st.opts, v->info.project, req.bytes))
          return err;
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
