#include "storage/cache_blob_store.hpp"

#include "messages/errors.hpp"
#include "storage/paths.hpp"
#include "storage/sha256.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <list>
#include <mutex>
#include <unordered_map>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {
namespace {

namespace fs = std::filesystem;

class cache_blob_store final : public blob_store {
public:
  cache_blob_store(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_(max_bytes) {}

  caf::expected<std::string> get(const blob_ref& ref) override {
    auto key = key_of(ref.ns, ref.hash);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto it = index_.find(key);
      if (it == index_.end()) {
        ++stats_.misses;
        return make_error(ec::not_found, "blob " + ref.hash + " is not in the cache");
      }
      lru_.splice(lru_.begin(), lru_, it->second.pos); // most recent first
      ++stats_.hits;
    }
    std::string data;
    int fd = ::open((dir_ + "/" + key).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      return make_error(ec::not_found, "blob " + ref.hash + " left the cache");
    struct stat st {};
    bool ok = ::fstat(fd, &st) == 0;
    if (ok) {
      data.resize(static_cast<size_t>(st.st_size));
      size_t got = 0;
      while (ok && got < data.size()) {
        auto n = ::read(fd, data.data() + got, data.size() - got);
        if (n < 0 && errno == EINTR)
          continue;
        ok = n > 0;
        got += ok ? static_cast<size_t>(n) : 0;
      }
    }
    ::close(fd);
    if (ok && sha256_hex(data) == ref.hash)
      return data;
    // (unreadable or damaged: out of the cache, and fetched again)
    std::lock_guard<std::mutex> guard{mtx_};
    drop(key);
    return make_error(ec::not_found, "blob " + ref.hash + " could not be read from the cache");
  }

  caf::expected<put_ack> put(const std::vector<blob_view>& blobs) override {
    put_ack ack;
    for (auto& b : blobs) {
      if (b.ns >= blob_ns_count || !is_hash_hex(b.hash))
        return make_error(ec::bad_request, "malformed blob reference");
      if (b.data.size() > max_)
        continue; // (bigger than the whole cache: not kept)
      auto key = key_of(b.ns, b.hash);
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (index_.count(key))
          continue;
      }
      auto tmp = dir_ + "/." + key + ".tmp";
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd < 0)
        return make_error(ec::storage_error, "cache: " + std::string(std::strerror(errno)));
      size_t put = 0;
      bool ok = true;
      while (ok && put < b.data.size()) {
        auto n = ::write(fd, b.data.data() + put, b.data.size() - put);
        if (n < 0 && errno == EINTR)
          continue;
        ok = n > 0;
        put += ok ? static_cast<size_t>(n) : 0;
      }
      ok = ::close(fd) == 0 && ok;
      if (!ok || ::rename(tmp.c_str(), (dir_ + "/" + key).c_str()) != 0) {
        ::unlink(tmp.c_str());
        return make_error(ec::storage_error, "cache: " + std::string(std::strerror(errno)));
      }
      std::lock_guard<std::mutex> guard{mtx_};
      if (index_.count(key))
        continue;
      lru_.push_front(key);
      index_[key] = entry{b.data.size(), lru_.begin()};
      stats_.bytes += b.data.size();
      ++stats_.blobs;
      ++ack.stored;
      ack.bytes += b.data.size();
      while (stats_.bytes > max_ && !lru_.empty()) { // least recently used out
        drop(lru_.back());
        ++stats_.evicted;
      }
    }
    return ack;
  }

  caf::expected<std::vector<uint32_t>> find_missing(const std::vector<blob_ref>& refs) override {
    std::vector<uint32_t> out;
    std::lock_guard<std::mutex> guard{mtx_};
    for (uint32_t i = 0; i < refs.size(); ++i)
      if (!index_.count(key_of(refs[i].ns, refs[i].hash)))
        out.push_back(i);
    return out;
  }

  cache_stats stats() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return stats_;
  }

private:
  static std::string key_of(uint8_t ns, std::string_view hash) {
    return std::to_string(ns) + "-" + std::string(hash);
  }

  /// Forgets one blob and removes its file (the lock held).
  void drop(std::string key) {
    auto it = index_.find(key);
    if (it == index_.end())
      return;
    ::unlink((dir_ + "/" + key).c_str());
    stats_.bytes -= it->second.size;
    --stats_.blobs;
    lru_.erase(it->second.pos);
    index_.erase(it);
  }

  struct entry {
    uint64_t size = 0;
    std::list<std::string>::iterator pos;
  };

  std::string dir_;
  uint64_t max_;
  mutable std::mutex mtx_;
  std::list<std::string> lru_; ///< keys, most recently used first
  std::unordered_map<std::string, entry> index_;
  cache_stats stats_;
};

} // namespace

caf::expected<blob_store_ptr> open_cache_blob_store(const std::string& dir, uint64_t max_bytes) {
  std::error_code ec;
  fs::remove_all(dir, ec); // (what a cache held before a restart is not trusted)
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(ec::storage_error,
                      "cannot create the blob cache " + dir + ": " + ec.message());
  return std::make_shared<cache_blob_store>(dir, max_bytes);
}

cache_stats stats_of_cache(const blob_store& store) {
  if (auto c = dynamic_cast<const cache_blob_store*>(&store))
    return c->stats();
  return {};
}

} // namespace ferry
