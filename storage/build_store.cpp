#include "storage/build_store.hpp"

#include "messages/errors.hpp"
#include "messages/records.capnp.h"
#include "storage/capnp_record.hpp"
#include "storage/rocksdb_open.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstring>

namespace ferry {

namespace {

class rocksdb_build_store final : public build_store {
public:
  rocksdb_build_store(std::unique_ptr<rocksdb::DB> db,
                      std::vector<rocksdb::ColumnFamilyHandle*> cfs)
      : db_(std::move(db)), cfs_(std::move(cfs)) {}
  ~rocksdb_build_store() override {
    for (auto* cf : cfs_)
      db_->DestroyColumnFamilyHandle(cf);
  }

  caf::error put(const stored_build& b) override {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<rec::Build>();
    auto& s = b.status;
    r.setId(s.id);
    r.setVersionId(s.version_id);
    r.setProject(s.project);
    r.setState(s.state);
    r.setArtifactRoot(s.artifact_root);
    r.setArtifactFiles(s.artifact_files);
    r.setArtifactBytes(s.artifact_bytes);
    r.setError(s.error);
    r.setQueuedMs(s.queued_ms);
    r.setStartedMs(s.started_ms);
    r.setFinishedMs(s.finished_ms);
    r.setLogLines(s.log_lines);
    r.setSourceRoot(b.spec.source_root);
    r.setNoCache(b.spec.no_cache);
    r.setUser(b.spec.user);
    r.setSlotAcquireUs(s.slot_acquire_us);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::WriteBatch batch;
    batch.Put(cfs_[1], s.id, to_bytes(mb));
    auto st = write_resuming(*db_, wo, &batch);
    return st.ok() ? caf::error{}
                   : make_error(ec::storage_error, "store build: " + write_failure(st));
  }

  caf::error append(const std::string& id, const log_line& line) override {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<rec::LogLine>();
    r.setMs(line.ms);
    r.setStream(line.stream);
    r.setText(line.text);
    rocksdb::WriteBatch batch;
    batch.Put(cfs_[2], sequence_key(id, line.seq), to_bytes(mb));
    auto st = write_resuming(*db_, rocksdb::WriteOptions{}, &batch);
    return st.ok() ? caf::error{}
                   : make_error(ec::storage_error, "store log line: " + write_failure(st));
  }

  caf::error drop_log(const std::string& id) override {
    rocksdb::WriteBatch batch;
    batch.DeleteRange(cfs_[2], id + '\0', id + '\1');
    auto st = write_resuming(*db_, rocksdb::WriteOptions{}, &batch);
    return st.ok() ? caf::error{}
                   : make_error(ec::storage_error, "drop build log: " + write_failure(st));
  }

  caf::expected<std::vector<stored_build>> all() override {
    std::vector<stored_build> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions{}, cfs_[1]));
    try {
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        out.push_back(with_reader(it->value().ToString(), [](capnp::MessageReader& m) {
          auto r = m.getRoot<rec::Build>();
          stored_build b;
          auto& s = b.status;
          s.id = r.getId();
          s.version_id = r.getVersionId();
          s.project = r.getProject();
          s.state = r.getState();
          s.artifact_root = r.getArtifactRoot();
          s.artifact_files = r.getArtifactFiles();
          s.artifact_bytes = r.getArtifactBytes();
          s.error = r.getError();
          s.queued_ms = r.getQueuedMs();
          s.started_ms = r.getStartedMs();
          s.finished_ms = r.getFinishedMs();
          s.log_lines = r.getLogLines();
          s.slot_acquire_us = r.getSlotAcquireUs();
          b.spec = build_spec{s.version_id,   s.project, r.getSourceRoot(),
                              r.getNoCache(), {},        r.getUser()};
          return b;
        }));
      }
    } catch (const kj::Exception& e) {
      return make_error(ec::corrupt,
                        std::string("unreadable build record: ") + e.getDescription().cStr());
    }
    return out;
  }

  caf::expected<std::vector<log_line>> lines(const std::string& id, uint64_t from,
                                             uint64_t max_bytes) override {
    std::vector<log_line> out;
    uint64_t bytes = 0;
    auto prefix = id + '\0';
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions{}, cfs_[2]));
    try {
      for (it->Seek(sequence_key(id, from)); it->Valid() && it->key().starts_with(prefix);
           it->Next()) {
        auto key = it->key();
        uint64_t seq = 0;
        for (size_t i = key.size() - 8; i < key.size(); ++i)
          seq = seq << 8 | static_cast<uint8_t>(key[i]);
        out.push_back(with_reader(it->value().ToString(), [seq](capnp::MessageReader& m) {
          auto r = m.getRoot<rec::LogLine>();
          return log_line{seq, r.getMs(), r.getStream(), r.getText()};
        }));
        bytes += out.back().text.size() + 32;
        if (bytes >= max_bytes)
          break;
      }
    } catch (const kj::Exception& e) {
      return make_error(ec::corrupt,
                        std::string("unreadable log line: ") + e.getDescription().cStr());
    }
    return out;
  }

private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_; // default, builds, logs
};

} // namespace

caf::expected<std::unique_ptr<build_store>> build_store::open(const std::string& dir) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descs{
      {rocksdb::kDefaultColumnFamilyName, {}}, {"builds", {}}, {"logs", {}}};
  auto opened = open_rocksdb(dir, rocksdb::DBOptions{}, descs, "build store");
  if (!opened)
    return opened.error();
  return std::unique_ptr<build_store>(
      new rocksdb_build_store(std::move(opened->first), std::move(opened->second)));
}

} // namespace ferry
