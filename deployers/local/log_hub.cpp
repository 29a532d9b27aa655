#include "deployers/local/log_hub.hpp"

#include "deployers/local/http_text.hpp"
#include "storage/sha256.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace ferry::runtime {

namespace fs = std::filesystem;

log_hub::log_hub(std::string dir, uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
}

log_hub::~log_hub() {
  for (auto& [_, l] : logs_)
    if (l.f)
      std::fclose(l.f);
}

log_hub::log& log_hub::entry(const std::string& deployment) {
  auto [it, fresh] = logs_.try_emplace(deployment);
  auto& l = it->second;
  if (fresh) { // a log of an earlier run goes on
    l.path = dir_ + "/" + deployment + ".log";
    std::ifstream in(l.path);
    std::string line;
    while (std::getline(in, line)) {
      ++l.lines;
      l.bytes += line.size() + 1;
    }
  }
  return l;
}

FILE* log_hub::handle(log& l) {
  l.used = ++clock_;
  if (l.f)
    return l.f;
  if (open_ >= max_open) { // close the one written longest ago
    log* oldest = nullptr;
    for (auto& [_, other] : logs_)
      if (other.f && (!oldest || other.used < oldest->used))
        oldest = &other;
    if (oldest) {
      std::fclose(oldest->f);
      oldest->f = nullptr;
      --open_;
    }
  }
  l.f = std::fopen(l.path.c_str(), "ae");
  open_ += l.f != nullptr;
  return l.f;
}

void log_hub::append(const std::string& deployment, std::string json_line) {
  std::vector<std::shared_ptr<const masker>> masks;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& l = entry(deployment);
    if (l.newest)
      masks.push_back(l.newest);
    for (auto& w : l.earlier)
      if (auto m = w.lock())
        masks.push_back(std::move(m));
  }
  for (auto& m : masks) // outside the lock: one log's long lines hold up no other
    m->mask(json_line);
  std::lock_guard<std::mutex> guard{mtx_};
  auto& l = entry(deployment);
  if (l.bytes + json_line.size() + 1 > max_bytes_) { // full: it starts anew
    if (l.f) {
      std::fclose(l.f);
      l.f = nullptr;
      --open_;
    }
    std::error_code ec;
    fs::resize_file(l.path, 0, ec);
    l.base = l.lines;
    l.bytes = 0;
  }
  auto* f = handle(l);
  if (!f)
    return;
  std::fwrite(json_line.data(), 1, json_line.size(), f);
  std::fputc('\n', f);
  ++l.lines;
  l.bytes += json_line.size() + 1;
}

std::shared_ptr<const masker> log_hub::masker_for(const std::vector<std::string>& forms) {
  sha256_stream key;
  for (auto& f : forms) { // (each with its length: no two lists read alike)
    auto n = std::to_string(f.size()) + ":";
    key.update(n.data(), n.size());
    key.update(f.data(), f.size());
  }
  auto d = key.finish();
  std::string digest(reinterpret_cast<const char*>(d.data()), d.size());
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto it = maskers_.find(digest); it != maskers_.end())
      if (auto m = it->second.lock())
        return m;
  }
  auto m = std::make_shared<const masker>(forms); // (built outside the lock)
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto it = maskers_.begin(); it != maskers_.end();)
    it = it->second.expired() ? maskers_.erase(it) : std::next(it);
  maskers_[digest] = m;
  return m;
}

void log_hub::add_masks(const std::string& deployment, std::shared_ptr<const masker> m) {
  if (!m || m->empty())
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  auto& l = entry(deployment);
  if (l.newest == m)
    return;
  if (l.newest)
    l.earlier.push_back(l.newest);
  l.newest = std::move(m);
  std::erase_if(l.earlier, [&](auto& w) {
    auto held = w.lock();
    return !held || held == l.newest;
  });
}

std::vector<std::string> log_hub::read(const std::string& deployment, uint64_t from, size_t max,
                                       uint64_t& next) {
  std::string path = dir_ + "/" + deployment + ".log";
  uint64_t base = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto it = logs_.find(deployment); it != logs_.end()) {
      if (it->second.f)
        std::fflush(it->second.f);
      base = it->second.base;
    }
  }
  from = std::max(from, base);
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  uint64_t n = base;
  size_t bytes = 0; // a page holds at most 1 MiB of text, however long the lines
  while (std::getline(in, line)) {
    if (n++ < from)
      continue;
    if (out.size() >= max || (bytes > 0 && bytes + line.size() > (1 << 20)))
      break;
    bytes += line.size();
    out.push_back(std::move(line));
  }
  next = from + out.size();
  return out;
}

void log_hub::flush() {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [_, l] : logs_)
    if (l.f)
      std::fflush(l.f);
}

} // namespace ferry::runtime
