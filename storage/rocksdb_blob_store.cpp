// RocksDB backend of the blob store.
//
// Blob bytes are appended to segment files (segments/<id>.seg), each record
// a 40-byte header (raw SHA-256, little-endian length) and the bytes; the
// RocksDB column family "index" maps namespace + hash to (size, segment,
// offset). This is the layout of RocksDB's own BlobDB, but every byte is
// written once: a put appends its blobs to a segment, fdatasyncs it, and
// only then writes (synced) the index entries that make them visible. A
// crash in between leaves unreferenced bytes, never an index entry without
// its bytes. Existence checks read only the index.
#include "messages/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/rocksdb_open.hpp"
#include "storage/segments.hpp"
#include "storage/sha256.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <iostream>
#include <filesystem>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

namespace ferry {
namespace {

constexpr int kNamespaces = blob_ns_count;
constexpr size_t kMaxTouched = 1 << 20;
// (the segment files' records and index entries: storage/segments.hpp)
using segment_writer = segments::writer;
using open_segment = segments::reader;
using blob_location = segments::location;
using segments::write_all;
constexpr uint64_t kSegmentLimit = segments::limit;

class rocksdb_blob_store final : public blob_store {
public:
  rocksdb_blob_store(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs,
                     std::string segments, uint64_t next_id)
      : db_(std::move(db)),
        cfs_(std::move(cfs)),
        segments_(std::move(segments)),
        next_id_(next_id) {}

  ~rocksdb_blob_store() override {
    for (auto& w : free_writers_)
      ::close(w.fd);
    for (auto* cf : cfs_)
      db_->DestroyColumnFamilyHandle(cf);
  }

  caf::expected<std::string> get(const blob_ref& ref) override {
    std::string key;
    if (auto err = key_of(ref, key))
      return err;
    // twice at most: a sweep may move the blob to another segment between
    // reading where it is and opening that segment
    for (int attempt = 0;; ++attempt) {
      std::string where;
      auto st = db_->Get(rocksdb::ReadOptions{}, index_cf(), key, &where);
      if (st.IsNotFound())
        return make_error(ec::not_found, "blob " + ref.hash + " is not stored");
      if (!st.ok())
        return make_error(ec::storage_error, "read blob index: " + st.ToString());
      blob_location at;
      if (!at.decode(where))
        return make_error(ec::corrupt, "blob " + ref.hash + " has a malformed index entry");
      auto [size, seg, off] = at;
      auto segment = reader(seg);
      if (!segment) {
        if (attempt == 0 && errno == ENOENT)
          continue;
        return make_error(ec::corrupt, "blob " + ref.hash + ": segment " + std::to_string(seg) +
                                           " is gone: " + std::strerror(errno));
      }
      std::string value(size, '\0');
      size_t got = 0;
      while (got < size) {
        auto n =
            ::pread(segment->fd, value.data() + got, size - got, static_cast<off_t>(off + got));
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          return make_error(ec::corrupt, "blob " + ref.hash + " is cut short in its segment");
        got += static_cast<size_t>(n);
      }
      return value;
    }
  }

  caf::expected<put_ack> put(const std::vector<blob_view>& blobs) override {
    return put_blobs_(blobs, true);
  }

  caf::expected<put_ack> put_copy(const std::vector<blob_view>& blobs) override {
    return put_blobs_(blobs, false);
  }

  caf::expected<put_ack> put_blobs_(const std::vector<blob_view>& blobs, bool wanted) {
    std::vector<blob_ref> refs;
    refs.reserve(blobs.size());
    for (auto& b : blobs)
      refs.push_back(blob_ref{b.ns, std::string(b.hash)});
    if (wanted)
      touch(refs); // (before the index entry exists: a sweep keeps it)
    auto missing = wanted ? find_missing(refs) : missing_of(refs, false);
    if (!missing)
      return missing.error();
    if (missing->empty())
      return put_ack{};
    return append(blobs, *missing);
  }

  /// Streams a file in: read once to hash it (nothing to do if it is
  /// stored), once more into a segment, checked against that hash.
  caf::expected<std::string> put_file(uint8_t ns, int fd, uint64_t size) override {
    std::vector<char> buf(1 << 20);
    auto read_at = [&](uint64_t at, size_t n) -> ssize_t {
      while (true) {
        auto got = ::pread(fd, buf.data(), n, static_cast<off_t>(at));
        if (got < 0 && errno == EINTR)
          continue;
        return got;
      }
    };
    auto pass = [&](const std::function<bool(const char*, size_t)>& each) -> caf::expected<digest> {
      sha256_stream h;
      for (uint64_t at = 0; at < size;) {
        auto n = read_at(at, static_cast<size_t>(std::min<uint64_t>(buf.size(), size - at)));
        if (n <= 0)
          return make_error(ec::storage_error,
                            "read a file to store: it changed or cannot be read");
        h.update(buf.data(), static_cast<size_t>(n));
        if (each && !each(buf.data(), static_cast<size_t>(n)))
          return make_error(ec::storage_error,
                            "append to segment: " + std::string(std::strerror(errno)));
        at += static_cast<uint64_t>(n);
      }
      return h.finish();
    };
    auto first = pass(nullptr);
    if (!first)
      return first.error();
    blob_ref ref{ns, to_hex(*first)};
    touch({ref});
    auto missing = find_missing({ref});
    if (!missing)
      return missing.error();
    if (missing->empty())
      return ref.hash;
    if (auto err = check_space(size + 40))
      return err;
    std::string key;
    if (auto err = key_of(ref, key))
      return err;
    bool created = false;
    auto w = take_writer(created);
    if (w.fd < 0)
      return make_error(ec::storage_error, "create segment: " + std::string(std::strerror(errno)));
    char header[40];
    std::memcpy(header, key.data() + 1, 32);
    std::memcpy(header + 32, &size, 8);
    std::vector<iovec> head{iovec{header, 40}};
    auto fail = [&](caf::error err) {
      (void)!::ftruncate(w.fd, static_cast<off_t>(w.offset)); // give the space back
      give_back(w, false);
      return err;
    };
    if (!write_all(w.fd, head))
      return fail(
          make_error(ec::storage_error, "append to segment: " + std::string(std::strerror(errno))));
    auto second = pass([&](const char* p, size_t n) {
      std::vector<iovec> v{iovec{const_cast<char*>(p), n}};
      return write_all(w.fd, v);
    });
    if (!second)
      return fail(second.error());
    if (*second != *first)
      return fail(make_error(ec::storage_error, "the file changed while it was stored"));
    if (::fdatasync(w.fd) != 0)
      return fail(
          make_error(ec::storage_error, "sync segment: " + std::string(std::strerror(errno))));
    if (created && !sync_dir())
      return fail(make_error(ec::storage_error, "sync " + segments_ + ": " + std::strerror(errno)));
    uint64_t data_at = w.offset + 40;
    w.offset = data_at + size;
    rocksdb::WriteBatch batch;
    batch.Put(index_cf(), key, blob_location{size, w.id, data_at}.encode());
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto st = write_resuming(*db_, wo, &batch);
    give_back(w, true); // (after its index: a segment given back is whole, for a sweep)
    if (!st.ok())
      return make_error(ec::storage_error, "write blob index: " + write_failure(st));
    return ref.hash;
  }

  caf::expected<std::vector<uint32_t>> find_missing(const std::vector<blob_ref>& refs) override {
    return missing_of(refs, true);
  }

  /// Which refs are not stored; with touch, the others are marked wanted.
  caf::expected<std::vector<uint32_t>> missing_of(const std::vector<blob_ref>& refs, bool touch) {
    std::vector<std::string> keys(refs.size());
    std::vector<rocksdb::Slice> slices;
    slices.reserve(refs.size());
    for (size_t i = 0; i < refs.size(); ++i) {
      if (auto err = key_of(refs[i], keys[i]))
        return err;
      slices.emplace_back(keys[i]);
    }
    std::vector<rocksdb::PinnableSlice> values(refs.size());
    std::vector<rocksdb::Status> statuses(refs.size());
    // What is found here is touched in the same breath: a sweep either
    // deleted it before (absent: the caller uploads it) or keeps it.
    std::lock_guard<std::mutex> g{touch_mtx_};
    if (!refs.empty())
      db_->MultiGet(rocksdb::ReadOptions{}, index_cf(), slices.size(), slices.data(), values.data(),
                    statuses.data());
    std::vector<uint32_t> out;
    auto now = steady_ms();
    for (size_t i = 0; i < refs.size(); ++i) {
      if (statuses[i].IsNotFound())
        out.push_back(static_cast<uint32_t>(i));
      else if (!statuses[i].ok())
        return make_error(ec::storage_error, "index lookup: " + statuses[i].ToString());
      else if (touch)
        touched_[keys[i]] = now;
    }
    return out;
  }

  caf::expected<std::vector<std::string>> list_range(uint8_t ns, uint8_t first,
                                                     uint8_t last) override {
    if (ns >= kNamespaces || first > last)
      return make_error(ec::bad_request, "bad blob range");
    std::vector<std::string> out;
    const char from[2] = {static_cast<char>(ns), static_cast<char>(first)};
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, index_cf())};
    for (it->Seek(rocksdb::Slice(from, 2)); it->Valid(); it->Next()) {
      auto key = it->key();
      if (key.size() != 33 || static_cast<uint8_t>(key[0]) != ns ||
          static_cast<uint8_t>(key[1]) > last)
        break;
      out.push_back(to_hex(reinterpret_cast<const uint8_t*>(key.data() + 1), 32));
    }
    if (!it->status().ok())
      return make_error(ec::storage_error, "list blobs: " + it->status().ToString());
    return out;
  }

  caf::expected<sweep_report> sweep(const std::vector<blob_ref>& live,
                                    std::chrono::seconds grace) override {
    std::lock_guard<std::mutex> one{sweep_mtx_};
    auto up = steady_ms() - opened_ms_;
    auto grace_ms = std::chrono::duration_cast<std::chrono::milliseconds>(grace).count();
    if (up < grace_ms)
      return make_error(ec::unavailable, "this store opened " + std::to_string(up / 1000) +
                                             " s ago; it sweeps once it has seen gc_grace_s (" +
                                             std::to_string(grace.count()) + " s) of uploads");
    std::unordered_set<std::string> keep;
    keep.reserve(live.size());
    std::string key;
    for (auto& r : live)
      if (!key_of(r, key))
        keep.insert(key);
    sweep_report rep;
    auto fence = retire_writers();
    auto before = segment_bytes();
    // the blobs no kept version names and nobody touched within the grace
    std::vector<std::string> candidates;
    {
      std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, index_cf())};
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        ++rep.checked;
        if (!keep.count(it->key().ToString()))
          candidates.push_back(it->key().ToString());
      }
      if (!it->status().ok())
        return make_error(ec::storage_error, "scan blob index: " + it->status().ToString());
    }
    {
      std::lock_guard<std::mutex> g{touch_mtx_};
      auto cutoff = steady_ms() - grace_ms;
      rocksdb::WriteBatch batch;
      for (auto& c : candidates) {
        auto t = touched_.find(c);
        if (t != touched_.end() && t->second > cutoff)
          continue; // an upload may count on it
        batch.Delete(index_cf(), c);
        ++rep.deleted;
      }
      rocksdb::WriteOptions wo;
      wo.sync = true;
      if (rep.deleted) {
        auto st = write_resuming(*db_, wo, &batch);
        if (!st.ok())
          return make_error(ec::storage_error, "delete from blob index: " + write_failure(st));
      }
      for (auto t = touched_.begin(); t != touched_.end();)
        t = t->second < cutoff ? touched_.erase(t) : std::next(t);
    }
    if (auto err = reclaim(rep, fence)) // (the deletes stand; the space comes next time)
      std::cerr << "ferryd: gc: segments not all reclaimed: " << reason_of(err) << "\n";
    auto after = segment_bytes();
    rep.bytes_before = before;
    rep.bytes_after = after;
    return rep;
  }

private:
  static int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  /// Marks blobs as wanted now (an upload in flight counts on them).
  void touch(const std::vector<blob_ref>& refs) {
    std::string key;
    std::lock_guard<std::mutex> g{touch_mtx_};
    auto now = steady_ms();
    for (auto& r : refs)
      if (!key_of(r, key))
        touched_[key] = now;
    // bounded: past its size, touches older than a day (the longest grace)
    // go, looked for at most once a minute
    if (touched_.size() > kMaxTouched && now - last_prune_ms_ > 60000) {
      last_prune_ms_ = now;
      for (auto t = touched_.begin(); t != touched_.end();)
        t = t->second < now - 86400 * 1000 ? touched_.erase(t) : std::next(t);
    }
  }

  uint64_t segment_bytes() {
    uint64_t n = 0;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(segments_, ec))
      if (e.path().extension() == ".seg")
        n += e.file_size(ec);
    return n;
  }

  /// After a sweep: a segment with nothing live goes; one less than half
  /// live is copied (its live blobs appended anew) and goes. The segments
  /// being appended to, and those newer than the sweep (fence), are left
  /// alone; every other one has all its index entries written (a writer
  /// is given back only after its index), so the scan below sees all it holds.
  caf::error reclaim(sweep_report& rep, uint64_t fence) {
    struct entry {
      std::string key;
      uint64_t size, off;
    };
    std::map<uint64_t, std::vector<entry>> by_seg;
    std::map<uint64_t, uint64_t> live;
    // the segments being written, taken before the scan: one closed now
    // has all its index entries written (a writer is given back after its
    // index), so the scan below sees everything it holds
    std::set<uint64_t> writing;
    {
      std::lock_guard<std::mutex> g{mtx_};
      writing = open_ids_;
    }
    {
      std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, index_cf())};
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        blob_location at;
        if (!at.decode(it->value().ToStringView()))
          continue;
        live[at.seg] += at.size + 40;
        by_seg[at.seg].push_back(entry{it->key().ToString(), at.size, at.off});
      }
      if (!it->status().ok())
        return make_error(ec::storage_error, "scan blob index: " + it->status().ToString());
    }
    std::error_code fec;
    std::vector<std::pair<uint64_t, uint64_t>> segs; // id, size
    for (auto& e : std::filesystem::directory_iterator(segments_, fec)) {
      auto name = e.path().filename().string();
      if (name.size() != 20 || !name.ends_with(".seg"))
        continue;
      auto id = std::stoull(name.substr(0, 16), nullptr, 16);
      if (id < fence && !writing.count(id))
        segs.emplace_back(id, e.file_size(fec));
    }
    // empty segments first (nothing to copy), then the half-empty ones
    std::stable_sort(segs.begin(), segs.end(), [&](auto& a, auto& b) {
      return (live.count(a.first) ? 1 : 0) < (live.count(b.first) ? 1 : 0);
    });
    caf::error trouble;
    for (auto [id, size] : segs) {
      auto l = live.count(id) ? live[id] : 0;
      if (l == 0) {
        drop_segment(id);
        ++rep.segments_removed;
        continue;
      }
      if (l * 2 >= size)
        continue;
      // copy the live blobs out (64 MiB at a time), point the index at the
      // copies, then drop it
      auto segment = reader(id);
      if (!segment)
        continue;
      auto& entries = by_seg[id];
      bool copied = true;
      for (size_t from = 0; from < entries.size() && copied;) {
        std::vector<std::string> data, hexes;
        std::vector<blob_view> views;
        size_t bytes = 0, to = from;
        for (; to < entries.size() && (to == from || bytes < (64u << 20)); ++to)
          bytes += entries[to].size;
        for (size_t k = from; k < to; ++k) {
          auto& en = entries[k];
          std::string buf(en.size, '\0');
          size_t got = 0;
          while (got < en.size) {
            auto n = ::pread(segment->fd, buf.data() + got, en.size - got,
                             static_cast<off_t>(en.off + got));
            if (n < 0 && errno == EINTR)
              continue;
            if (n <= 0)
              break;
            got += static_cast<size_t>(n);
          }
          if (got != en.size) {
            copied = false;
            trouble = make_error(ec::storage_error, "read segment " + std::to_string(id));
            break;
          }
          data.push_back(std::move(buf));
          hexes.push_back(to_hex(reinterpret_cast<const uint8_t*>(en.key.data() + 1), 32));
        }
        if (!copied)
          break;
        for (size_t k = 0; k < data.size(); ++k)
          views.push_back(
              blob_view{static_cast<uint8_t>(entries[from + k].key[0]), hexes[k], data[k]});
        std::vector<uint32_t> all(views.size());
        for (uint32_t i = 0; i < all.size(); ++i)
          all[i] = i;
        if (auto ack = append(views, all); !ack) {
          copied = false;
          trouble = ack.error();
        }
        from = to;
      }
      if (!copied)
        continue; // (left as it is: the next sweep tries again)
      drop_segment(id);
      ++rep.segments_compacted;
    }
    return trouble;
  }

  /// Appends these blobs (by index into blobs) to a segment, synced, then
  /// writes their index entries (synced).
  caf::expected<put_ack> append(const std::vector<blob_view>& blobs,
                                const std::vector<uint32_t>& which) {
    put_ack ack;
    std::vector<blob_ref> refs;
    refs.reserve(blobs.size());
    for (auto& b : blobs)
      refs.push_back(blob_ref{b.ns, std::string(b.hash)});
    uint64_t need = 0;
    for (auto i : which)
      need += blobs[i].data.size() + 40;
    if (auto err = check_space(need))
      return err;
    bool created = false;
    auto w = take_writer(created);
    if (w.fd < 0)
      return make_error(ec::storage_error, "create segment: " + std::string(std::strerror(errno)));
    rocksdb::WriteBatch batch;
    std::vector<iovec> iov;
    std::vector<std::array<char, 40>> headers(which.size());
    std::string key;
    uint64_t offset = w.offset;
    for (size_t k = 0; k < which.size(); ++k) {
      auto i = (which)[k];
      auto& b = blobs[i];
      if (auto err = key_of(refs[i], key)) {
        give_back(w, false);
        return err;
      }
      uint64_t size = b.data.size();
      std::memcpy(headers[k].data(), key.data() + 1, 32);
      std::memcpy(headers[k].data() + 32, &size, 8);
      iov.push_back(iovec{headers[k].data(), 40});
      iov.push_back(iovec{const_cast<char*>(b.data.data()), size});
      uint64_t data_at = offset + 40;
      batch.Put(index_cf(), key, blob_location{size, w.id, data_at}.encode());
      offset = data_at + size;
      ack.stored++;
      ack.bytes += size;
    }
    if (!write_all(w.fd, iov) || ::fdatasync(w.fd) != 0) {
      auto why = std::string(std::strerror(errno));
      (void)!::ftruncate(w.fd, static_cast<off_t>(w.offset)); // give the space back
      give_back(w, false);
      return make_error(ec::storage_error, "append to segment: " + why);
    }
    if (created && !sync_dir()) { // the new segment's name must survive a crash too
      give_back(w, false);
      return make_error(ec::storage_error, "sync " + segments_ + ": " + std::strerror(errno));
    }
    w.offset = offset;
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto st = write_resuming(*db_, wo, &batch);
    give_back(w, true); // (after its index: a segment given back is whole, for a sweep)
    if (!st.ok())
      return make_error(ec::storage_error, "write blob index: " + write_failure(st));
    return ack;
  }

  void drop_segment(uint64_t id) {
    // (under the lock that opens readers: none reopens it in between; a
    // read under way keeps its descriptor until it ends)
    std::lock_guard<std::mutex> g{mtx_};
    readers_.erase(id);
    ::unlink(segment_path(id).c_str());
  }

  /// Space for these blobs, and some left for the stores' own writes: a
  /// clear refusal instead of a disk filled to its last byte.
  caf::error check_space(uint64_t need) {
    struct statvfs fs {};
    if (::statvfs(segments_.c_str(), &fs) != 0)
      return {};
    uint64_t free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    constexpr uint64_t keep = 16 << 20;
    if (free < need + keep)
      return make_error(ec::storage_error, "the disk is full: " + std::to_string(free >> 20) +
                                               " MiB free, " + std::to_string((need >> 20) + 1) +
                                               " MiB to store and 16 MiB kept " +
                                               "for ferry's own records");
    return {};
  }

  /// Index key: namespace byte + raw SHA-256.
  static caf::error key_of(const blob_ref& ref, std::string& key) {
    digest d;
    if (ref.ns >= kNamespaces)
      return make_error(ec::bad_request, "unknown blob namespace");
    if (!hash_from_hex(ref.hash, d))
      return make_error(ec::bad_request, "malformed blob hash '" + ref.hash.substr(0, 80) + "'");
    key.assign(1, static_cast<char>(ref.ns));
    key.append(reinterpret_cast<const char*>(d.data()), d.size());
    return {};
  }

  std::string segment_path(uint64_t id) const {
    char name[32];
    std::snprintf(name, sizeof name, "/%016llx.seg", static_cast<unsigned long long>(id));
    return segments_ + name;
  }

  segment_writer take_writer(bool& created) {
    std::lock_guard<std::mutex> g{mtx_};
    if (!free_writers_.empty()) {
      auto w = free_writers_.back();
      free_writers_.pop_back();
      return w;
    }
    segment_writer w;
    w.id = next_id_++;
    w.fd = ::open(segment_path(w.id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
                  0644);
    created = true;
    if (w.fd >= 0)
      open_ids_.insert(w.id);
    return w;
  }

  /// Returns a writer to the pool, or retires it (full, or its state is unsure).
  void give_back(segment_writer w, bool healthy) {
    std::lock_guard<std::mutex> g{mtx_};
    if (!healthy || w.offset >= kSegmentLimit) {
      ::close(w.fd);
      open_ids_.erase(w.id);
      return;
    }
    free_writers_.push_back(w);
  }

  /// The segments being appended to end here: a sweep may reclaim them
  /// (the next put starts a new one).
  uint64_t retire_writers() {
    std::lock_guard<std::mutex> g{mtx_};
    for (auto& w : free_writers_) {
      ::close(w.fd);
      open_ids_.erase(w.id);
    }
    free_writers_.clear();
    return next_id_; // (segments from here on are newer than the sweep)
  }

  bool sync_dir() {
    int fd = ::open(segments_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return false;
    bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
  }

  std::shared_ptr<open_segment> reader(uint64_t id) {
    std::lock_guard<std::mutex> g{mtx_};
    if (auto it = readers_.find(id); it != readers_.end())
      return it->second;
    int fd = ::open(segment_path(id).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return nullptr;
    auto seg = std::make_shared<open_segment>(fd);
    readers_[id] = seg;
    return seg;
  }

  rocksdb::ColumnFamilyHandle* index_cf() { return cfs_[1]; }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_; // default, index
  std::string segments_;
  std::mutex mtx_;
  uint64_t next_id_;
  std::vector<segment_writer> free_writers_;
  std::map<uint64_t, std::shared_ptr<open_segment>> readers_;
  std::set<uint64_t> open_ids_; ///< segments being appended to
  std::mutex sweep_mtx_;        ///< one sweep at a time
  std::mutex touch_mtx_;
  /// index key -> when a put or a `missing` last counted on it (steady ms):
  /// a sweep leaves what was touched within its grace
  std::unordered_map<std::string, int64_t> touched_;
  int64_t opened_ms_ = steady_ms();
  int64_t last_prune_ms_ = 0;
};

} // namespace

caf::expected<blob_store_ptr> open_rocksdb_blob_store(const std::string& dir) {
  rocksdb::DBOptions dbo;
  dbo.max_background_jobs = 2;
  rocksdb::ColumnFamilyOptions index;
  index.OptimizeForPointLookup(64);
  std::vector<rocksdb::ColumnFamilyDescriptor> descs{
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions{}},
      {"index", index},
  };
  auto segments = dir + "/segments";
  std::error_code fec;
  std::filesystem::create_directories(segments, fec);
  if (fec)
    return make_error(ec::storage_error, "create " + segments + ": " + fec.message());
  // New segments get ids above every existing one: appends never touch an
  // old segment after a restart.
  uint64_t next_id = 1;
  for (auto& e : std::filesystem::directory_iterator(segments, fec)) {
    auto name = e.path().filename().string();
    if (name.size() == 20 && name.ends_with(".seg"))
      next_id = std::max<uint64_t>(next_id, std::stoull(name.substr(0, 16), nullptr, 16) + 1);
  }
  auto opened = open_rocksdb(dir, dbo, descs, "blob store");
  if (!opened)
    return opened.error();
  return std::make_shared<rocksdb_blob_store>(std::move(opened->first), std::move(opened->second),
                                              segments, next_id);
}

} // namespace ferry
