// The owner index on RocksDB: one key per (owner, blob), no value:
//   owner | NUL | namespace byte | raw SHA-256
#include "storage/owner_index.hpp"

#include "messages/errors.hpp"
#include "storage/rocksdb_open.hpp"
#include "storage/sha256.hpp"

#include <rocksdb/write_batch.h>

namespace ferry {

namespace {

class rocksdb_owner_index final : public owner_index {
public:
  explicit rocksdb_owner_index(rocksdb_families db) : db_(std::move(db)) {}
  ~rocksdb_owner_index() override {
    for (auto* cf : db_.second)
      db_.first->DestroyColumnFamilyHandle(cf);
  }

  caf::error grant(const std::string& owner, const std::vector<blob_ref>& refs) override {
    if (owner.empty() || refs.empty())
      return {};
    rocksdb::WriteBatch batch;
    std::string key;
    for (auto& r : refs) {
      if (auto err = key_of(owner, r, key))
        return err;
      batch.Put(db_.second[1], key, rocksdb::Slice());
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto st = write_resuming(*db_.first, wo, &batch);
    if (!st.ok())
      return make_error(ec::storage_error, "record the owner of blobs: " + write_failure(st));
    return {};
  }

  caf::expected<std::vector<uint32_t>> not_held(const std::string& owner,
                                                const std::vector<blob_ref>& refs) override {
    std::vector<std::string> keys(refs.size());
    std::vector<rocksdb::Slice> slices;
    slices.reserve(refs.size());
    for (size_t i = 0; i < refs.size(); ++i) {
      if (auto err = key_of(owner, refs[i], keys[i]))
        return err;
      slices.emplace_back(keys[i]);
    }
    std::vector<rocksdb::PinnableSlice> values(refs.size());
    std::vector<rocksdb::Status> statuses(refs.size());
    if (!refs.empty())
      db_.first->MultiGet(rocksdb::ReadOptions{}, db_.second[1], slices.size(), slices.data(),
                          values.data(), statuses.data());
    std::vector<uint32_t> out;
    for (size_t i = 0; i < refs.size(); ++i) {
      if (statuses[i].IsNotFound())
        out.push_back(static_cast<uint32_t>(i));
      else if (!statuses[i].ok())
        return make_error(ec::storage_error, "owner lookup: " + statuses[i].ToString());
    }
    return out;
  }

private:
  static caf::error key_of(const std::string& owner, const blob_ref& r, std::string& key) {
    digest d;
    if (r.ns >= blob_ns_count || !hash_from_hex(r.hash, d))
      return make_error(ec::bad_request, "malformed blob reference");
    key.assign(owner);
    key += '\0';
    key += static_cast<char>(r.ns);
    key.append(reinterpret_cast<const char*>(d.data()), d.size());
    return {};
  }

  rocksdb_families db_;
};

} // namespace

caf::expected<owner_index_ptr> open_owner_index(const std::string& dir) {
  rocksdb::ColumnFamilyOptions owners;
  owners.OptimizeForPointLookup(16);
  auto opened = open_rocksdb(
      dir, rocksdb::DBOptions{},
      {{rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions{}}, {"owners", owners}},
      "owner index");
  if (!opened)
    return opened.error();
  return std::make_shared<rocksdb_owner_index>(std::move(*opened));
}

} // namespace ferry
