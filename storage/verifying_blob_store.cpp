// Adds verification to a blob store: names are checked against content on
// put and on get, and directory nodes must be canonical and complete.
#include "messages/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/paths.hpp"
#include "storage/sha256.hpp"
#include "storage/tree.hpp"

#include <cerrno>
#include <cstring>
#include <deque>
#include <set>

#include <unistd.h>

namespace ferry {
namespace {

class verifying_blob_store final : public blob_store {
public:
  verifying_blob_store(blob_store_ptr inner, bool whole_trees)
      : inner_(std::move(inner)), whole_trees_(whole_trees) {}

  caf::expected<std::string> get(const blob_ref& ref) override {
    auto bytes = inner_->get(ref);
    if (bytes && sha256_hex(*bytes) != ref.hash)
      return make_error(ec::corrupt, "stored blob " + ref.hash + " does not match its hash");
    return bytes;
  }

  caf::expected<put_ack> put(const std::vector<blob_view>& blobs) override {
    if (auto err = check(blobs))
      return err;
    return inner_->put(blobs);
  }

  caf::expected<put_ack> put_copy(const std::vector<blob_view>& blobs) override {
    if (auto err = check(blobs))
      return err;
    return inner_->put_copy(blobs);
  }

  /// Every blob named by its hash; a directory node parsed, its children
  /// stored (whole trees) or in the batch.
  caf::error check(const std::vector<blob_view>& blobs) {
    std::set<std::pair<uint8_t, std::string_view>> in_batch;
    std::vector<blob_ref> children;
    std::vector<tree_entry> entries;
    for (auto& b : blobs) {
      if (b.ns >= blob_ns_count)
        return make_error(ec::bad_request, "unknown blob namespace");
      if (!is_hash_hex(b.hash))
        return make_error(ec::bad_request, "malformed blob hash");
      if (sha256_hex(b.data) != b.hash)
        return make_error(ec::hash_mismatch,
                          "content does not match its name " + std::string(b.hash));
      if (is_tree_ns(b.ns) && whole_trees_) {
        if (auto why = parse_tree(b.data, entries); !why.empty())
          return make_error(ec::bad_request, "directory node " + std::string(b.hash) + ": " + why);
        for (auto& e : entries) {
          if (e.kind == entry_kind::link)
            continue;
          uint8_t ns = e.kind == entry_kind::dir ? b.ns : static_cast<uint8_t>(b.ns - 1);
          if (!in_batch.count({ns, std::string_view(e.ref)}))
            children.push_back(blob_ref{ns, e.ref});
        }
      }
      in_batch.emplace(b.ns, b.hash);
    }
    if (!children.empty()) {
      auto missing = inner_->find_missing(children);
      if (!missing)
        return missing.error();
      if (!missing->empty())
        return make_error(ec::missing_blobs,
                          "directory node names " + std::to_string(missing->size()) +
                              " blob(s) not stored, e.g. " + children[missing->front()].hash);
    }
    return {};
  }

  caf::expected<std::vector<uint32_t>> find_missing(const std::vector<blob_ref>& refs) override {
    return inner_->find_missing(refs);
  }

  /// (the name is the hash of what the store itself read: nothing to check)
  caf::expected<std::string> put_file(uint8_t ns, int fd, uint64_t size) override {
    if (ns >= blob_ns_count || is_tree_ns(ns))
      return make_error(ec::bad_request, "a file goes in a file namespace");
    return inner_->put_file(ns, fd, size);
  }

private:
  blob_store_ptr inner_;
  bool whole_trees_;
};

} // namespace

caf::expected<std::vector<std::string>> blob_store::list_range(uint8_t, uint8_t, uint8_t) {
  return make_error(ec::unavailable, "this blob store cannot list its blobs");
}

caf::expected<sweep_report> blob_store::sweep(const std::vector<blob_ref>&, std::chrono::seconds) {
  return make_error(ec::unavailable, "this blob store does not collect garbage");
}

caf::expected<std::string> blob_store::put_file(uint8_t ns, int fd, uint64_t size) {
  std::string data(size, '\0');
  size_t got = 0;
  while (got < data.size()) {
    auto n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return make_error(ec::storage_error,
                        "read a file to store: " + std::string(std::strerror(errno)));
    got += static_cast<size_t>(n);
  }
  auto hash = sha256_hex(data);
  auto r = put({blob_view{ns, hash, data}});
  if (!r)
    return r.error();
  return hash;
}

std::vector<blob_view> views_of(const std::vector<blob>& blobs) {
  std::vector<blob_view> out;
  out.reserve(blobs.size());
  for (auto& b : blobs)
    out.push_back(blob_view{b.ns, b.hash, b.data});
  return out;
}

std::string parse_blob_pack(std::string_view body, std::vector<blob_view>& out,
                            std::vector<std::string>& hashes, bool& truncated, uint8_t max_ns) {
  truncated = false;
  size_t pos = 0;
  std::vector<std::pair<size_t, size_t>> spans;
  std::vector<uint8_t> nss;
  while (pos < body.size()) {
    if (body.size() - pos < 41) {
      truncated = true;
      return "blob pack ends inside a record header";
    }
    uint8_t ns = static_cast<uint8_t>(body[pos]);
    if (ns > max_ns)
      return "blob namespace " + std::to_string(ns) + " is not writable here";
    hashes.push_back(to_hex(reinterpret_cast<const uint8_t*>(body.data() + pos + 1), 32));
    uint64_t len = 0;
    std::memcpy(&len, body.data() + pos + 33, 8);
    pos += 41;
    if (len > body.size() - pos) {
      truncated = true;
      return "blob " + hashes.back() + " announces " + std::to_string(len) +
             " bytes but the body ends after " + std::to_string(body.size() - pos);
    }
    spans.emplace_back(pos, len);
    nss.push_back(ns);
    pos += len;
  }
  if (spans.empty())
    return "empty blob pack";
  // hashes is complete now: its strings no longer move.
  for (size_t i = 0; i < spans.size(); ++i)
    out.push_back(blob_view{nss[i], hashes[i], body.substr(spans[i].first, spans[i].second)});
  return {};
}

blob_store_ptr make_verifying_blob_store(blob_store_ptr inner, bool whole_trees) {
  return std::make_shared<verifying_blob_store>(std::move(inner), whole_trees);
}

caf::expected<tree_stats> walk_tree(blob_store& store, const std::string& root, uint8_t tree_ns,
                                    std::vector<blob_ref>* seen) {
  tree_stats stats;
  std::deque<std::pair<std::string, std::string>> todo{{"", root}}; // path, hash
  std::vector<tree_entry> entries;
  while (!todo.empty()) {
    auto [path, hash] = std::move(todo.front());
    todo.pop_front();
    auto bytes = store.get(blob_ref{tree_ns, hash});
    if (!bytes) {
      if (code_of(bytes.error()) == ec::not_found)
        return make_error(ec::missing_blobs,
                          "directory node " + hash + " ('" + path + "') is not stored");
      return bytes.error();
    }
    if (auto why = parse_tree(*bytes, entries); !why.empty())
      return make_error(ec::corrupt, "directory node " + hash + ": " + why);
    stats.dirs++;
    if (seen)
      seen->push_back(blob_ref{tree_ns, hash});
    for (auto& e : entries) {
      auto sub = path.empty() ? e.name : path + "/" + e.name;
      switch (e.kind) {
        case entry_kind::dir: todo.emplace_back(sub, e.ref); break;
        case entry_kind::link:
          if (auto why = check_link_target(sub, e.ref); !why.empty())
            return make_error(ec::bad_symlink, why);
          stats.files++;
          break;
        default:
          stats.files++;
          stats.bytes += e.size;
          if (seen)
            seen->push_back(blob_ref{static_cast<uint8_t>(tree_ns - 1), e.ref});
      }
    }
  }
  return stats;
}

} // namespace ferry
