#pragma once
// Opening a RocksDB directory with its column families, the one way every
// store of ferry does it (created if missing, every family listed).
#include "messages/errors.hpp"

#include <caf/expected.hpp>
#include <rocksdb/db.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ferry {

using rocksdb_families =
    std::pair<std::unique_ptr<rocksdb::DB>, std::vector<rocksdb::ColumnFamilyHandle*>>;

/// Opens dir with these families (handles in the same order); `what` names
/// the store in the error ("blob store", "metadata", ...).
inline caf::expected<rocksdb_families> open_rocksdb(
    const std::string& dir, rocksdb::DBOptions dbo,
    const std::vector<rocksdb::ColumnFamilyDescriptor>& families, const std::string& what) {
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(dbo, dir, families, &handles, &raw);
  if (!st.ok())
    return make_error(ec::storage_error, "open " + what + " " + dir + ": " + st.ToString());
  return rocksdb_families{std::unique_ptr<rocksdb::DB>(raw), std::move(handles)};
}

} // namespace ferry
