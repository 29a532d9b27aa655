#include "storage/metadata_store.hpp"

#include "messages/errors.hpp"
#include "messages/records.capnp.h"
#include "storage/capnp_record.hpp"
#include "storage/rocksdb_open.hpp"
#include "storage/sha256.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstring>

namespace ferry {
namespace {

enum cf_index {
  cf_default,
  cf_users,
  cf_tokens,
  cf_projects,
  cf_versions,
  cf_by_project,
  cf_aliases,
  cf_env,
  cf_domains,
  cf_dep_caches,
  cf_count
};
const char* const cf_names[] = {"default",    "users",   "tokens", "projects", "versions",
                                "by_project", "aliases", "env",    "domains",  "dep_caches"};

std::string env_key(const std::string& project, const std::string& environment,
                    const std::string& name) {
  return project + '\0' + environment + '\0' + name;
}

std::string token_key(const std::string& token) {
  auto d = sha256(token);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string by_project_key(const std::string& project, uint64_t number) {
  return sequence_key(project, number);
}

class rocksdb_metadata_store final : public metadata_store {
public:
  rocksdb_metadata_store(std::unique_ptr<rocksdb::DB> db,
                         std::vector<rocksdb::ColumnFamilyHandle*> cfs)
      : db_(std::move(db)), cfs_(std::move(cfs)) {}
  ~rocksdb_metadata_store() override {
    for (auto* cf : cfs_)
      db_->DestroyColumnFamilyHandle(cf);
  }

  caf::expected<std::optional<principal>> find_user(const std::string& name) override {
    std::string v;
    auto found = read(cf_users, name, v);
    if (!found)
      return found.error();
    if (!*found)
      return std::optional<principal>{};
    return decode("user", [&] {
      return with_reader(v, [&](capnp::MessageReader& r) {
        auto u = r.getRoot<rec::User>();
        return std::optional<principal>{principal{u.getName(), u.getAdmin()}};
      });
    });
  }

  caf::expected<bool> any_user() override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions{}, cfs_[cf_users]));
    it->SeekToFirst();
    return it->Valid();
  }

  caf::error add_user(const principal& user, const std::string& token, int64_t now_ms) override {
    capnp::MallocMessageBuilder um;
    auto u = um.initRoot<rec::User>();
    u.setName(user.user);
    u.setAdmin(user.admin);
    u.setCreatedMs(now_ms);
    capnp::MallocMessageBuilder tm;
    auto t = tm.initRoot<rec::Token>();
    t.setUser(user.user);
    t.setLabel("first");
    t.setCreatedMs(now_ms);
    rocksdb::WriteBatch b;
    b.Put(cfs_[cf_users], user.user, to_bytes(um));
    b.Put(cfs_[cf_tokens], token_key(token), to_bytes(tm));
    return write(b);
  }

  caf::expected<std::optional<principal>> find_token(const std::string& token) override {
    std::string v;
    auto found = read(cf_tokens, token_key(token), v);
    if (!found)
      return found.error();
    if (!*found)
      return std::optional<principal>{};
    auto user = decode("token", [&] {
      return with_reader(v, [](capnp::MessageReader& r) {
        return std::string(r.getRoot<rec::Token>().getUser());
      });
    });
    if (!user)
      return user.error();
    return find_user(*user);
  }

  caf::expected<std::optional<project_record>> find_project(const std::string& name) override {
    std::string v;
    auto found = read(cf_projects, name, v);
    if (!found)
      return found.error();
    if (!*found)
      return std::optional<project_record>{};
    return decode("project", [&] {
      return with_reader(v, [](capnp::MessageReader& r) {
        return std::optional<project_record>{from_record(r.getRoot<rec::Project>())};
      });
    });
  }

  caf::error put_project(const project_record& p) override {
    rocksdb::WriteBatch b;
    b.Put(cfs_[cf_projects], p.info.name, project_bytes(p));
    return write(b);
  }

  caf::expected<std::vector<project_info>> list_projects() override {
    std::vector<project_info> out;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions{}, cfs_[cf_projects]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string v = it->value().ToString();
      auto p = decode("project", [&] {
        return with_reader(
            v, [](capnp::MessageReader& r) { return from_record(r.getRoot<rec::Project>()); });
      });
      if (!p)
        return p.error();
      out.push_back(p->info);
    }
    return out;
  }

  caf::expected<std::optional<version_record>> find_version(const std::string& id) override {
    std::string v;
    auto found = read(cf_versions, id, v);
    if (!found)
      return found.error();
    if (!*found)
      return std::optional<version_record>{};
    return decode("version", [&] {
      return with_reader(v, [](capnp::MessageReader& r) {
        return std::optional<version_record>{from_record(r.getRoot<rec::Version>())};
      });
    });
  }

  caf::error put_version(const version_record& v, const project_record* p) override {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<rec::Version>();
    auto& i = v.info;
    r.setId(i.id);
    r.setProject(i.project);
    r.setNumber(i.number);
    r.setState(state_of(i.state));
    r.setRoot(i.root);
    r.setFiles(i.files);
    r.setBytes(i.bytes);
    r.setCreatedMs(i.created_ms);
    r.setSealedMs(i.sealed_ms);
    r.setCreatedBy(i.created_by);
    r.setBuild(i.build_id);
    r.setArtifact(i.artifact);
    r.setTarget(i.target);
    if (!v.manifest.empty()) {
      auto ok = decode("manifest", [&] {
        return with_reader(v.manifest, [&](capnp::MessageReader& mr) {
          r.setManifest(mr.getRoot<rec::Manifest>());
          return true;
        });
      });
      if (!ok)
        return ok.error();
    }
    rocksdb::WriteBatch b;
    b.Put(cfs_[cf_versions], i.id, to_bytes(mb));
    b.Put(cfs_[cf_by_project], by_project_key(i.project, i.number), i.id);
    if (p)
      b.Put(cfs_[cf_projects], p->info.name, project_bytes(*p));
    return write(b);
  }

  caf::expected<std::vector<version_info>> list_versions(const std::string& project) override {
    std::vector<version_info> out;
    std::string prefix = project + '\0';
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions{}, cfs_[cf_by_project]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      auto v = find_version(it->value().ToString());
      if (!v)
        return v.error();
      if (*v)
        out.push_back((*v)->info);
    }
    return out;
  }

  caf::expected<std::optional<alias_info>> find_alias(const std::string& host) override {
    std::string v;
    auto found = read(cf_aliases, host, v);
    if (!found)
      return found.error();
    if (!*found)
      return std::optional<alias_info>{};
    return decode("alias", [&] {
      return with_reader(v, [](capnp::MessageReader& r) {
        return std::optional<alias_info>{from_record(r.getRoot<rec::Alias>())};
      });
    });
  }

  caf::error put_alias(const alias_info& a) override {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<rec::Alias>();
    r.setHost(a.host);
    r.setProject(a.project);
    r.setDeployment(a.deployment);
    r.setProduction(a.production);
    auto h = r.initHistory(static_cast<unsigned>(a.history.size()));
    for (unsigned i = 0; i < a.history.size(); ++i)
      h.set(i, a.history[i]);
    r.setUpdatedMs(a.updated_ms);
    r.setUpdatedBy(a.updated_by);
    rocksdb::WriteBatch b;
    b.Put(cfs_[cf_aliases], a.host, to_bytes(mb));
    return write(b);
  }

  caf::expected<bool> remove_alias(const std::string& host) override {
    return remove(cf_aliases, host);
  }

  caf::expected<std::vector<alias_info>> list_aliases() override {
    return scan<alias_info>(cf_aliases, "", "alias", [](capnp::MessageReader& r) {
      return from_record(r.getRoot<rec::Alias>());
    });
  }

  caf::expected<std::optional<domain_info>> find_domain(const std::string& name) override {
    std::string v;
    auto found = read(cf_domains, name, v);
    if (!found)
      return found.error();
    if (!*found)
      return std::optional<domain_info>{};
    return decode("domain", [&] {
      return with_reader(v, [](capnp::MessageReader& r) {
        return std::optional<domain_info>{from_record(r.getRoot<rec::Domain>())};
      });
    });
  }

  caf::error put_domain(const domain_info& d) override {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<rec::Domain>();
    r.setName(d.name);
    r.setProject(d.project);
    r.setAddedMs(d.added_ms);
    r.setAddedBy(d.added_by);
    rocksdb::WriteBatch b;
    b.Put(cfs_[cf_domains], d.name, to_bytes(mb));
    return write(b);
  }

  caf::expected<bool> remove_domain(const std::string& name) override {
    return remove(cf_domains, name);
  }

  caf::expected<std::vector<domain_info>> list_domains() override {
    return scan<domain_info>(cf_domains, "", "domain", [](capnp::MessageReader& r) {
      return from_record(r.getRoot<rec::Domain>());
    });
  }

  caf::error put_env(const std::string& project, const env_record& e) override {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<rec::EnvVar>();
    r.setProject(project);
    r.setEnvironment(e.entry.environment);
    r.setName(e.entry.name);
    r.setSealed(kj::arrayPtr(reinterpret_cast<const kj::byte*>(e.sealed.data()), e.sealed.size()));
    r.setUpdatedMs(e.entry.updated_ms);
    r.setUpdatedBy(e.entry.updated_by);
    rocksdb::WriteBatch b;
    b.Put(cfs_[cf_env], env_key(project, e.entry.environment, e.entry.name), to_bytes(mb));
    return write(b);
  }

  caf::expected<bool> remove_env(const std::string& project, const std::string& environment,
                                 const std::string& name) override {
    return remove(cf_env, env_key(project, environment, name));
  }

  caf::expected<std::vector<env_record>> list_env(const std::string& project) override {
    return scan<env_record>(cf_env, project + '\0', "env", [](capnp::MessageReader& m) {
      auto r = m.getRoot<rec::EnvVar>();
      env_record out;
      out.entry = env_entry{r.getName(), r.getEnvironment(), r.getUpdatedMs(), r.getUpdatedBy()};
      auto d = r.getSealed();
      out.sealed.assign(reinterpret_cast<const char*>(d.begin()), d.size());
      return out;
    });
  }

  caf::expected<std::vector<dep_cache_info>> list_dep_caches(const std::string& project) override {
    return scan<dep_cache_info>(cf_dep_caches, project.empty() ? "" : project + '\0',
                                "dependency cache", [](capnp::MessageReader& m) {
                                  auto r = m.getRoot<rec::DepCache>();
                                  return dep_cache_info{r.getProject(), r.getKey(), r.getRoot(),
                                                        r.getBytes(), r.getUsedMs()};
                                });
  }

  caf::error put_dep_cache(const dep_cache_info& c) override {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<rec::DepCache>();
    r.setProject(c.project);
    r.setKey(c.key);
    r.setRoot(c.root);
    r.setBytes(c.bytes);
    r.setUsedMs(c.used_ms);
    rocksdb::WriteBatch b;
    b.Put(cfs_[cf_dep_caches], c.project + '\0' + c.key, to_bytes(mb));
    return write(b);
  }

  caf::expected<bool> remove_dep_cache(const std::string& project,
                                       const std::string& key) override {
    return remove(cf_dep_caches, project + '\0' + key);
  }

private:
  static domain_info from_record(rec::Domain::Reader r) {
    return domain_info{r.getName(), r.getProject(), r.getAddedMs(), r.getAddedBy()};
  }

  static alias_info from_record(rec::Alias::Reader r) {
    alias_info a;
    a.host = r.getHost();
    a.project = r.getProject();
    a.deployment = r.getDeployment();
    a.production = r.getProduction();
    for (auto h : r.getHistory())
      a.history.emplace_back(h);
    a.updated_ms = r.getUpdatedMs();
    a.updated_by = r.getUpdatedBy();
    return a;
  }

  /// Every record of a family whose key starts with prefix, decoded by f.
  template <class T, class F>
  caf::expected<std::vector<T>> scan(int cf, const std::string& prefix, const char* what, F f) {
    std::vector<T> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions{}, cfs_[cf]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string v = it->value().ToString();
      auto x = decode(what, [&] { return with_reader(v, f); });
      if (!x)
        return x.error();
      out.push_back(std::move(*x));
    }
    return out;
  }

  caf::expected<bool> remove(int cf, const std::string& key) {
    std::string v;
    auto found = read(cf, key, v);
    if (!found || !*found)
      return found;
    rocksdb::WriteBatch b;
    b.Delete(cfs_[cf], key);
    if (auto err = write(b))
      return err;
    return true;
  }

  static project_record from_record(rec::Project::Reader p) {
    project_record out;
    out.info.name = p.getName();
    out.info.owner = p.getOwner();
    out.info.created_ms = p.getCreatedMs();
    out.next_number = p.getNextNumber();
    out.info.versions = out.next_number - 1;
    return out;
  }

  static version_record from_record(rec::Version::Reader r) {
    version_record out;
    auto& i = out.info;
    i.id = r.getId();
    i.project = r.getProject();
    i.number = r.getNumber();
    i.state = version_state_name(static_cast<int>(r.getState()));
    i.root = r.getRoot();
    i.files = r.getFiles();
    i.bytes = r.getBytes();
    i.created_ms = r.getCreatedMs();
    i.sealed_ms = r.getSealedMs();
    i.created_by = r.getCreatedBy();
    i.build_id = r.getBuild();
    i.artifact = r.getArtifact();
    i.target = r.hasTarget() ? std::string(r.getTarget()) : "preview";
    if (r.hasManifest() && r.getManifest().getEntries().size() > 0) {
      capnp::MallocMessageBuilder mb;
      mb.setRoot(r.getManifest());
      out.manifest = to_bytes(mb);
    }
    return out;
  }

  static rec::VersionState state_of(const std::string& name) {
    for (int s = 0; s <= static_cast<int>(rec::VersionState::REMOVED); ++s)
      if (version_state_name(s) == name)
        return static_cast<rec::VersionState>(s);
    return rec::VersionState::CREATED;
  }

  static std::string project_bytes(const project_record& p) {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<rec::Project>();
    r.setName(p.info.name);
    r.setOwner(p.info.owner);
    r.setCreatedMs(p.info.created_ms);
    r.setNextNumber(p.next_number);
    return to_bytes(mb);
  }

  template <class F>
  static auto decode(const char* what, F&& f) -> caf::expected<decltype(f())> {
    try {
      return f();
    } catch (const kj::Exception& e) {
      return make_error(
          ec::corrupt, std::string("unreadable ") + what + " record: " + e.getDescription().cStr());
    }
  }

  caf::expected<bool> read(int cf, const std::string& key, std::string& value) {
    auto st = db_->Get(rocksdb::ReadOptions{}, cfs_[cf], key, &value);
    if (st.IsNotFound())
      return false;
    if (!st.ok())
      return make_error(ec::storage_error, "metadata read: " + st.ToString());
    return true;
  }

  caf::error write(rocksdb::WriteBatch& b) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto st = write_resuming(*db_, wo, &b);
    if (!st.ok())
      return make_error(ec::storage_error, "metadata write: " + write_failure(st));
    return {};
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
};

} // namespace

std::string version_state_name(int state) {
  static const char* const names[] = {"created",  "uploading", "sealed",    "queued",
                                      "building", "built",     "deploying", "ready",
                                      "failed",   "canceled",  "removed"};
  if (state < 0 || state > 10)
    return "unknown";
  return names[state];
}

caf::expected<std::unique_ptr<metadata_store>> metadata_store::open(const std::string& dir) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (int i = 0; i < cf_count; ++i)
    descs.emplace_back(cf_names[i], rocksdb::ColumnFamilyOptions{});
  auto opened = open_rocksdb(dir, rocksdb::DBOptions{}, descs, "metadata");
  if (!opened)
    return opened.error();
  return std::unique_ptr<metadata_store>(
      new rocksdb_metadata_store(std::move(opened->first), std::move(opened->second)));
}

} // namespace ferry
