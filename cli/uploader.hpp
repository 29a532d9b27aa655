#pragma once
// Uploads file blobs for deploy: asks which are missing, packs small files
// (POST /v1/blobs), sends large ones alone (PUT), retries a 503 (storage
// restarting), and never sends the same content twice in one deploy.
#include "cli/http_client.hpp"
#include "cli/walk.hpp"

#include <atomic>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace ferry::cli {

/// Files read once for hashing, kept as the body that uploads them: a blob
/// pack, or one large file's bytes.
struct prepared_batch {
  std::string body;
  std::vector<std::pair<size_t, size_t>> items; ///< file index, offset of its record
  bool single = false;
  uint64_t bytes = 0;
};

/// Reads file i (exactly its scanned size) into the batch and sets hash to
/// its SHA-256. Returns "" or the error.
std::string read_and_hash(const std::string& dir, const scanned_file& f, size_t i,
                          prepared_batch& batch, std::string& hash);

class uploader {
public:
  uploader(std::string dir, const std::vector<scanned_file>& files,
           const std::vector<std::string>& hashes)
      : dir_(std::move(dir)), files_(files), hashes_(hashes) {}

  /// Asks the server which of these files' blobs it lacks and uploads those.
  /// Returns "" or the first error.
  std::string upload_missing(http_client& c, const std::vector<size_t>& idx);

  /// Uploads what the server lacks of a prepared batch (whose hashes are set).
  std::string upload_prepared(http_client& c, prepared_batch& batch);

  /// Uploads these files' blobs (known to be missing). Returns "" or an error.
  std::string upload(http_client& c, const std::vector<size_t>& idx);

  /// True if this deploy already made sure the server has this content
  /// (asked and, where missing, uploaded it). Call once uploads are done.
  bool settled(const std::string& hash) const { return claimed_.count(hash) > 0; }

  std::atomic<uint64_t> blobs{0};
  std::atomic<uint64_t> bytes{0};

  static constexpr uint64_t pack_limit = 2 << 20;  ///< bytes of one pack
  static constexpr uint64_t single_from = 1 << 20; ///< files this big go alone
  static constexpr uint64_t max_blob = 64 << 20;   ///< the server's body limit

private:
  /// Keeps only the files whose content no other call has claimed yet.
  std::vector<size_t> claim(const std::vector<size_t>& idx);
  std::string send(http_client& c, const std::string& method, const std::string& path,
                   const std::string& body, const std::string& type);

  std::string dir_;
  const std::vector<scanned_file>& files_;
  const std::vector<std::string>& hashes_;
  std::mutex mtx_;
  std::unordered_set<std::string> claimed_;
};

/// Encodes (namespace, hash) references for /v1/missing's binary form.
void append_ref(std::string& body, uint8_t ns, const std::string& hash);

/// Appends a blob pack record header.
void append_pack_header(std::string& pack, uint8_t ns, const std::string& hash, uint64_t len);

} // namespace ferry::cli
