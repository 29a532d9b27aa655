#include "cli/stat_cache.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace ferry::cli {

namespace {
constexpr char magic[8] = {'F', 'E', 'R', 'R', 'Y', 'S', 'C', '2'};
constexpr int64_t racy_ns = 100'000'000;

template <class T>
void put_pod(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
bool get_pod(std::string_view& in, T& v) {
  if (in.size() < sizeof v)
    return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}
} // namespace

std::string stat_cache::path_for(const std::string& root) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(root, ec).lexically_normal().string();
  std::string base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    base = x;
  else if (const char* h = std::getenv("HOME"); h && *h)
    base = std::string(h) + "/.cache";
  else
    base = "/tmp";
  return base + "/ferry/stat-" + sha256_hex(abs).substr(0, 24);
}

void stat_cache::load(const std::string& file) {
  map_.clear();
  root_.clear();
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return;
  data_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::string_view v = data_;
  if (v.size() < 48 || std::memcmp(v.data(), magic, 8) != 0)
    return;
  v.remove_prefix(8);
  uint64_t count = 0;
  get_pod(v, count);
  digest root;
  std::memcpy(root.data(), v.data(), 32);
  v.remove_prefix(32);
  map_.reserve(std::min<uint64_t>(count, v.size() / 61)); // a record is at least 61 bytes
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t len = 0;
    entry e;
    if (!get_pod(v, len) || v.size() < len)
      return map_.clear();
    auto path = v.substr(0, len);
    v.remove_prefix(len);
    if (!get_pod(v, e.size) || !get_pod(v, e.mtime_ns) || !get_pod(v, e.ctime_ns) ||
        !get_pod(v, e.ino) || !get_pod(v, e.kind) || v.size() < 32)
      return map_.clear();
    std::memcpy(e.hash.data(), v.data(), 32);
    v.remove_prefix(32);
    map_.emplace(path, e);
  }
  if (root != digest{})
    root_ = to_hex(root);
}

bool stat_cache::save(const std::string& file, int64_t scan_ns) const {
  std::string out(magic, 8);
  put_pod<uint64_t>(out, 0);
  out.append(32, '\0');
  uint64_t count = 0;
  for (auto& [path, e] : map_) {
    if (e.mtime_ns > scan_ns - racy_ns || e.ctime_ns > scan_ns - racy_ns)
      continue;
    put_pod<uint32_t>(out, static_cast<uint32_t>(path.size()));
    out += path;
    put_pod(out, e.size);
    put_pod(out, e.mtime_ns);
    put_pod(out, e.ctime_ns);
    put_pod(out, e.ino);
    put_pod(out, e.kind);
    out.append(reinterpret_cast<const char*>(e.hash.data()), 32);
    ++count;
  }
  std::memcpy(out.data() + 8, &count, 8);
  digest root;
  if (count == map_.size() && hash_from_hex(root_, root))
    std::memcpy(out.data() + 16, root.data(), 32);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
  auto tmp = file + ".tmp";
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    if (!o.write(out.data(), static_cast<std::streamsize>(out.size())))
      return false;
  }
  return std::rename(tmp.c_str(), file.c_str()) == 0;
}

std::optional<std::string> stat_cache::lookup(const scanned_file& f) const {
  auto it = map_.find(f.path);
  if (it == map_.end())
    return std::nullopt;
  auto& e = it->second;
  if (e.size != f.size || e.mtime_ns != f.mtime_ns || e.ctime_ns != f.ctime_ns || e.ino != f.ino ||
      e.kind != static_cast<uint8_t>(f.kind))
    return std::nullopt;
  return to_hex(e.hash);
}

void stat_cache::put(const scanned_file& f, const std::string& hash) {
  entry e{f.size, f.mtime_ns, f.ctime_ns, f.ino, static_cast<uint8_t>(f.kind), {}};
  hash_from_hex(hash, e.hash);
  auto it = map_.find(f.path);
  if (it != map_.end()) {
    it->second = e;
    return;
  }
  owned_.push_back(f.path);
  map_.emplace(owned_.back(), e);
}

} // namespace ferry::cli
