// RocksDB backend of the blob store. Column families: one per namespace for
// the bytes of small blobs, and "index" (ns byte + raw hash -> size, where)
// so that existence checks never read content. Blobs of 256 KiB and more are
// written once to their own file under objects/ (fdatasync, rename, directory
// fsync) instead of passing through the WAL, the memtable and a flush; their
// index entry is written (synced) only after the file is durable, so an
// indexed blob is always complete.
#include "messages/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/sha256.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

namespace ferry {
namespace {

constexpr int kNamespaces = 2;
constexpr size_t kFileThreshold = 256 << 10;
constexpr char kInline = 0, kInFile = 1;

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    auto w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

class rocksdb_blob_store final : public blob_store {
public:
  rocksdb_blob_store(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs,
                     std::string objects)
    : db_(std::move(db)), cfs_(std::move(cfs)), objects_(std::move(objects)) {}

  ~rocksdb_blob_store() override {
    for (auto* cf : cfs_)
      db_->DestroyColumnFamilyHandle(cf);
  }

  caf::expected<std::string> get(const blob_ref& ref) override {
    std::string key;
    if (auto err = key_of(ref, key))
      return err;
    std::string where;
    auto st = db_->Get(rocksdb::ReadOptions{}, index_cf(), index_key(ref.ns, key), &where);
    if (st.IsNotFound())
      return make_error(ec::not_found, "blob " + ref.hash + " is not stored");
    if (!st.ok())
      return make_error(ec::storage_error, "read blob index: " + st.ToString());
    std::string value;
    if (where.size() == 9 && where[8] == kInFile) {
      if (!read_object(object_path(ref), value))
        return make_error(ec::storage_error, "read blob file " + ref.hash + ": " + std::strerror(errno));
      return value;
    }
    st = db_->Get(rocksdb::ReadOptions{}, data_cf(ref.ns), key, &value);
    if (st.IsNotFound())
      return make_error(ec::corrupt, "blob " + ref.hash + " is indexed but its bytes are gone");
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
    bool files = false;
    for (auto i : *missing) {
      auto& b = blobs[i];
      if (auto err = key_of(refs[i], key))
        return err;
      uint64_t size = b.data.size();
      char where[9];
      std::memcpy(where, &size, 8);
      where[8] = kInline;
      if (size >= kFileThreshold) {
        if (auto err = write_object(refs[i], b.data))
          return err;
        where[8] = kInFile;
        files = true;
      } else {
        batch.Put(data_cf(b.ns), key, b.data);
      }
      batch.Put(index_cf(), index_key(b.ns, key), rocksdb::Slice(where, 9));
      ack.stored++;
      ack.bytes += size;
    }
    if (files) { // make the renames durable before the index names the files
      fd_guard dir{::open(objects_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
      if (dir.fd < 0 || ::fsync(dir.fd) != 0)
        return make_error(ec::storage_error, "sync " + objects_ + ": " + std::strerror(errno));
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
  std::string object_path(const blob_ref& ref) const {
    return objects_ + "/" + (ref.ns == 0 ? "s-" : "t-") + ref.hash;
  }

  caf::error write_object(const blob_ref& ref, const std::string& data) {
    auto path = object_path(ref);
    static std::atomic<uint64_t> seq{0};
    auto tmp = path + ".tmp" + std::to_string(seq++);
    fd_guard fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (fd.fd < 0 || !write_all(fd.fd, data.data(), data.size()) || ::fdatasync(fd.fd) != 0 ||
        ::rename(tmp.c_str(), path.c_str()) != 0) {
      auto why = std::string(std::strerror(errno));
      ::unlink(tmp.c_str());
      return make_error(ec::storage_error, "write blob file " + ref.hash + ": " + why);
    }
    return {};
  }

  static bool read_object(const std::string& path, std::string& out) {
    fd_guard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0)
      return false;
    auto size = ::lseek(fd.fd, 0, SEEK_END);
    if (size < 0)
      return false;
    out.resize(static_cast<size_t>(size));
    size_t got = 0;
    while (got < out.size()) {
      auto n = ::pread(fd.fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

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
  std::string objects_;
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
  auto objects = dir + "/objects";
  std::error_code fec;
  std::filesystem::create_directories(objects, fec);
  if (fec)
    return make_error(ec::storage_error, "create " + objects + ": " + fec.message());
  auto st = rocksdb::DB::Open(dbo, dir, descs, &handles, &raw);
  if (!st.ok())
    return make_error(ec::storage_error, "open blob store " + dir + ": " + st.ToString());
  return std::make_shared<rocksdb_blob_store>(std::unique_ptr<rocksdb::DB>(raw), std::move(handles),
                                              objects);
}

} // namespace ferry
