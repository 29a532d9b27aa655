// RocksDB backend of the blob store. Column families: one per namespace for
// the bytes (large values in blob files, so compaction does not rewrite
// them), and "index" (ns byte + raw hash -> size) so that existence checks
// never read content.
#include "messages/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/sha256.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <cstring>

namespace ferry {
namespace {

constexpr int kNamespaces = 2;

class rocksdb_blob_store final : public blob_store {
public:
  rocksdb_blob_store(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs)
    : db_(std::move(db)), cfs_(std::move(cfs)) {}

  ~rocksdb_blob_store() override {
    for (auto* cf : cfs_)
      db_->DestroyColumnFamilyHandle(cf);
  }

  caf::expected<std::string> get(const blob_ref& ref) override {
    std::string key;
    if (auto err = key_of(ref, key))
      return err;
    std::string value;
    auto st = db_->Get(rocksdb::ReadOptions{}, data_cf(ref.ns), key, &value);
    if (st.IsNotFound())
      return make_error(ec::not_found, "blob " + ref.hash + " is not stored");
    if (!st.ok())
      return make_error(ec::storage_error, "read blob: " + st.ToString());
    return value;
  }

  caf::expected<put_ack> put(const std::vector<blob>& blobs) override {
    std::vector<blob_ref> refs;
    refs.reserve(blobs.size());
    for (auto& b : blobs)
      refs.push_back(blob_ref{b.ns, b.hash});
    auto missing = find_missing(refs);
    if (!missing)
      return missing.error();
    put_ack ack;
    if (missing->empty())
      return ack;
    rocksdb::WriteBatch batch;
    std::string key;
    for (auto i : *missing) {
      auto& b = blobs[i];
      if (auto err = key_of(refs[i], key))
        return err;
      uint64_t size = b.data.size();
      char sz[8];
      std::memcpy(sz, &size, 8);
      batch.Put(data_cf(b.ns), key, b.data);
      batch.Put(index_cf(), index_key(b.ns, key), rocksdb::Slice(sz, 8));
      ack.stored++;
      ack.bytes += size;
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto st = db_->Write(wo, &batch);
    if (!st.ok())
      return make_error(ec::storage_error, "write blobs: " + st.ToString());
    return ack;
  }

  caf::expected<std::vector<uint32_t>> find_missing(const std::vector<blob_ref>& refs) override {
    std::vector<std::string> keys(refs.size());
    std::vector<rocksdb::Slice> slices;
    slices.reserve(refs.size());
    for (size_t i = 0; i < refs.size(); ++i) {
      std::string key;
      if (auto err = key_of(refs[i], key))
        return err;
      keys[i] = index_key(refs[i].ns, key);
      slices.emplace_back(keys[i]);
    }
    std::vector<rocksdb::PinnableSlice> values(refs.size());
    std::vector<rocksdb::Status> statuses(refs.size());
    if (!refs.empty())
      db_->MultiGet(rocksdb::ReadOptions{}, index_cf(), slices.size(), slices.data(), values.data(),
                    statuses.data());
    std::vector<uint32_t> out;
    for (size_t i = 0; i < refs.size(); ++i) {
      if (statuses[i].IsNotFound())
        out.push_back(static_cast<uint32_t>(i));
      else if (!statuses[i].ok())
        return make_error(ec::storage_error, "index lookup: " + statuses[i].ToString());
    }
    return out;
  }

private:
  static caf::error key_of(const blob_ref& ref, std::string& key) {
    digest d;
    if (ref.ns >= kNamespaces)
      return make_error(ec::bad_request, "unknown blob namespace");
    if (!hash_from_hex(ref.hash, d))
      return make_error(ec::bad_request, "malformed blob hash '" + ref.hash.substr(0, 80) + "'");
    key.assign(reinterpret_cast<const char*>(d.data()), d.size());
    return {};
  }
  static std::string index_key(uint8_t ns, const std::string& key) {
    std::string k(1, static_cast<char>(ns));
    k += key;
    return k;
  }
  rocksdb::ColumnFamilyHandle* data_cf(uint8_t ns) { return cfs_[1 + ns]; }
  rocksdb::ColumnFamilyHandle* index_cf() { return cfs_[1 + kNamespaces]; }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_; // default, source, tree, index
};

} // namespace

caf::expected<blob_store_ptr> open_rocksdb_blob_store(const std::string& dir) {
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = 2;
  dbo.enable_pipelined_write = true;
  rocksdb::ColumnFamilyOptions data;
  data.write_buffer_size = 64 << 20;
  data.enable_blob_files = true;
  data.min_blob_size = 4096;
  data.enable_blob_garbage_collection = false;
  rocksdb::ColumnFamilyOptions small;
  small.OptimizeForPointLookup(32);
  std::vector<rocksdb::ColumnFamilyDescriptor> descs{
    {rocksdb::kDefaultColumnFamilyName, small},
    {"source", data},
    {"tree", small},
    {"index", small},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(dbo, dir, descs, &handles, &raw);
  if (!st.ok())
    return make_error(ec::storage_error, "open blob store " + dir + ": " + st.ToString());
  return std::make_shared<rocksdb_blob_store>(std::unique_ptr<rocksdb::DB>(raw), std::move(handles));
}

} // namespace ferry
