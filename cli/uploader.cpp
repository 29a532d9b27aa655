#include "cli/uploader.hpp"

#include "storage/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace ferry::cli {

void append_ref(std::string& body, uint8_t ns, const std::string& hash) {
  digest d;
  hash_from_hex(hash, d);
  body += static_cast<char>(ns);
  body.append(reinterpret_cast<const char*>(d.data()), d.size());
}

void append_pack_header(std::string& pack, uint8_t ns, const std::string& hash, uint64_t len) {
  append_ref(pack, ns, hash);
  pack.append(reinterpret_cast<const char*>(&len), 8);
}

namespace {

/// Appends exactly `size` bytes of a file (its size when scanned); a file
/// that grew or shrank since is an error.
bool append_file(const std::string& path, uint64_t size, std::string& out, std::string& err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    err = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  size_t start = out.size();
  out.resize(start + size);
  size_t got = 0;
  while (got < size) {
    auto n = ::read(fd, out.data() + start + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<size_t>(n);
  }
  char extra;
  bool grew = got == size && ::read(fd, &extra, 1) > 0;
  ::close(fd);
  if (got != size || grew) {
    err = "'" + path + "' changed while deploying; run ferry deploy again";
    return false;
  }
  return true;
}

} // namespace

std::string read_and_hash(const std::string& dir, const scanned_file& f, size_t i,
                          prepared_batch& batch, std::string& hash) {
  std::string err;
  size_t record = batch.body.size();
  if (!batch.single)
    batch.body.append(41, '\0'); // header, filled in once the hash is known
  size_t start = batch.body.size();
  if (!append_file(dir + "/" + f.path, f.size, batch.body, err))
    return err;
  auto d = sha256(std::string_view(batch.body).substr(start, f.size));
  hash = to_hex(d);
  if (!batch.single) {
    batch.body[record] = 0;
    std::memcpy(batch.body.data() + record + 1, d.data(), 32);
    uint64_t len = f.size;
    std::memcpy(batch.body.data() + record + 33, &len, 8);
  }
  batch.items.emplace_back(i, record);
  batch.bytes += f.size;
  return {};
}

std::string uploader::upload_prepared(http_client& c, prepared_batch& batch) {
  std::vector<size_t> idx;
  for (auto& [i, off] : batch.items)
    idx.push_back(i);
  auto mine = claim(idx);
  if (mine.empty())
    return {};
  std::string q;
  for (auto i : mine)
    append_ref(q, 0, hashes_[i]);
  auto r = c.request("POST", "/v1/missing", q, "application/x-ferry-refs");
  if (!r.ok())
    return "compare blobs: " + r.error_text();
  std::unordered_set<std::string> absent;
  for (size_t pos = 0; pos + 33 <= r.body.size(); pos += 33)
    absent.insert(to_hex(reinterpret_cast<const uint8_t*>(r.body.data() + pos + 1), 32));
  if (absent.empty())
    return {};
  if (batch.single) {
    auto i = batch.items.front().first;
    if (auto e = send(c, "PUT", "/v1/blobs/source/" + hashes_[i], batch.body,
                      "application/octet-stream");
        !e.empty())
      return e;
    blobs++;
    bytes += batch.bytes;
    return {};
  }
  // Send the pack as it is when all of it is wanted; else only the wanted records.
  std::string subset;
  uint64_t n = 0, sent = 0;
  bool all = absent.size() == batch.items.size();
  for (auto& [i, off] : batch.items) {
    if (!absent.count(hashes_[i]) || (!all && !std::count(mine.begin(), mine.end(), i)))
      continue;
    ++n;
    sent += files_[i].size;
    if (!all)
      subset.append(batch.body, off, 41 + files_[i].size);
  }
  if (auto e =
          send(c, "POST", "/v1/blobs", all ? batch.body : subset, "application/x-ferry-blob-pack");
      !e.empty())
    return e;
  blobs += n;
  bytes += sent;
  return {};
}

std::vector<size_t> uploader::claim(const std::vector<size_t>& idx) {
  std::vector<size_t> out;
  std::lock_guard<std::mutex> g{mtx_};
  for (auto i : idx)
    if (!hashes_[i].empty() && claimed_.insert(hashes_[i]).second)
      out.push_back(i);
  return out;
}

std::string uploader::send(http_client& c, const std::string& method, const std::string& path,
                           const std::string& body, const std::string& type) {
  for (int attempt = 0;; ++attempt) {
    auto r = c.request(method, path, body, type);
    if (r.ok())
      return {};
    // 503: the storage actor is restarting; its supervisor brings it back.
    if (r.status == 503 && attempt < 5) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
      continue;
    }
    auto text = r.error_text();
    if (text.rfind("hash_mismatch", 0) == 0)
      return "a file changed while deploying (" + text + "); run ferry deploy again";
    return "upload: " + text;
  }
}

std::string uploader::upload_missing(http_client& c, const std::vector<size_t>& idx) {
  auto mine = claim(idx);
  if (mine.empty())
    return {};
  std::string q;
  q.reserve(mine.size() * 33);
  for (auto i : mine)
    append_ref(q, 0, hashes_[i]);
  auto r = c.request("POST", "/v1/missing", q, "application/x-ferry-refs");
  if (!r.ok())
    return "compare blobs: " + r.error_text();
  if (r.body.size() % 33)
    return "compare blobs: unreadable answer";
  std::unordered_set<std::string> absent;
  for (size_t pos = 0; pos < r.body.size(); pos += 33)
    absent.insert(to_hex(reinterpret_cast<const uint8_t*>(r.body.data() + pos + 1), 32));
  std::vector<size_t> todo;
  for (auto i : mine)
    if (absent.count(hashes_[i]))
      todo.push_back(i);
  return upload(c, todo);
}

std::string uploader::upload(http_client& c, const std::vector<size_t>& idx) {
  std::string pack, body, err;
  uint64_t pack_blobs = 0;
  auto flush = [&]() -> std::string {
    if (pack.empty())
      return {};
    auto e = send(c, "POST", "/v1/blobs", pack, "application/x-ferry-blob-pack");
    if (e.empty()) {
      blobs += pack_blobs;
    }
    pack.clear();
    pack_blobs = 0;
    return e;
  };
  for (auto i : idx) {
    auto& f = files_[i];
    auto path = dir_ + "/" + f.path;
    if (f.size + 64 > max_blob)
      return "'" + f.path + "' is over the 64 MiB blob limit";
    if (f.size >= single_from) {
      body.clear();
      if (!append_file(path, f.size, body, err))
        return err;
      if (auto e =
              send(c, "PUT", "/v1/blobs/source/" + hashes_[i], body, "application/octet-stream");
          !e.empty())
        return e;
      blobs++;
      bytes += f.size;
      continue;
    }
    if (pack.size() + f.size > pack_limit)
      if (auto e = flush(); !e.empty())
        return e;
    append_pack_header(pack, 0, hashes_[i], f.size);
    if (!append_file(path, f.size, pack, err))
      return err;
    pack_blobs++;
    bytes += f.size;
  }
  return flush();
}

} // namespace ferry::cli
