#pragma once
// Opening a RocksDB directory with its column families, the one way every
// store of ferry does it (created if missing, every family listed).
#include "messages/errors.hpp"

#include <caf/expected.hpp>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/write_batch.h>

#include <cstdarg>
#include <cstdio>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ferry {

/// RocksDB's own log, kept out of the data directory: its fatal errors go
/// to stderr, the rest nowhere (a failed call says why in its status).
/// (Its file logger aborts on a full disk.)
class stderr_rocksdb_logger final : public rocksdb::Logger {
public:
  stderr_rocksdb_logger() : rocksdb::Logger(rocksdb::InfoLogLevel::FATAL_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[512];
    std::vsnprintf(line, sizeof line, format, ap);
    std::fprintf(stderr, "ferryd: rocksdb: %s\n", line);
  }
};

using rocksdb_families =
    std::pair<std::unique_ptr<rocksdb::DB>, std::vector<rocksdb::ColumnFamilyHandle*>>;

/// Opens dir with these families (handles in the same order); `what` names
/// the store in the error ("blob store", "metadata", ...). On a disk too full
/// to open it for writing, it opens read-only (and says so): ferryd starts
/// and serves, and every write fails with a clear error until it restarts
/// with space.
inline caf::expected<rocksdb_families> open_rocksdb(
    const std::string& dir, rocksdb::DBOptions dbo,
    const std::vector<rocksdb::ColumnFamilyDescriptor>& families, const std::string& what) {
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  // On a full disk: nothing preallocated, no flush while opening (the log is
  // replayed into memory), so that a store opens with the few bytes left.
  dbo.allow_fallocate = false;
  dbo.avoid_flush_during_recovery = true;
  if (!dbo.info_log)
    dbo.info_log = std::make_shared<stderr_rocksdb_logger>();
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(dbo, dir, families, &handles, &raw);
  if (!st.ok() && (st.IsNoSpace() || st.ToString().find("No space left") != std::string::npos)) {
    handles.clear();
    auto ro = rocksdb::DB::OpenForReadOnly(dbo, dir, families, &handles, &raw);
    if (ro.ok()) {
      std::fprintf(stderr,
                   "ferryd: the disk of %s is full: the %s is read-only until ferryd restarts "
                   "with space\n",
                   dir.c_str(), what.c_str());
      st = ro;
    }
  }
  if (!st.ok())
    return make_error(ec::storage_error, "open " + what + " " + dir + ": " + st.ToString());
  return rocksdb_families{std::unique_ptr<rocksdb::DB>(raw), std::move(handles)};
}

/// A write that, should the store be stopped by an earlier failure (a full
/// disk, since freed), resumes it and tries once more.
inline rocksdb::Status write_resuming(rocksdb::DB& db, const rocksdb::WriteOptions& wo,
                                      rocksdb::WriteBatch* batch) {
  auto st = db.Write(wo, batch);
  if (!st.ok() && !st.IsNotSupported() && db.Resume().ok())
    st = db.Write(wo, batch);
  return st;
}

/// The words for a failed write: a read-only store (opened on a full disk)
/// or the disk's own error.
inline std::string write_failure(const rocksdb::Status& st) {
  if (st.IsNotSupported())
    return "the disk was full when ferryd started: restart it once there is space";
  return st.ToString();
}

} // namespace ferry
