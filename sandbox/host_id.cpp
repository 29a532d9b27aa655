#include "sandbox/host_id.hpp"

#include <mutex>
#include <set>

namespace ferry::sandbox {

namespace {

struct id_pool {
  std::mutex mtx;
  uint32_t first = 0x70000000;
  uint32_t count = 65536;
  uint32_t next = 0; ///< where the search for a free one starts: ids are reused last
  std::set<uint32_t> taken;
};

id_pool& pool() {
  static id_pool p;
  return p;
}

} // namespace

void set_host_id_range(uint32_t first, uint32_t count) {
  auto& p = pool();
  std::lock_guard<std::mutex> guard{p.mtx};
  p.first = first;
  p.count = count;
  p.next = 0;
}

host_id::host_id() {
  auto& p = pool();
  std::lock_guard<std::mutex> guard{p.mtx};
  for (uint32_t k = 0; k < p.count; ++k) {
    uint32_t candidate = p.first + (p.next + k) % p.count;
    if (candidate != 0 && !p.taken.count(candidate)) {
      id_ = candidate;
      p.taken.insert(candidate);
      p.next = (p.next + k + 1) % p.count;
      return;
    }
  }
}

host_id::~host_id() {
  if (!id_)
    return;
  auto& p = pool();
  std::lock_guard<std::mutex> guard{p.mtx};
  p.taken.erase(id_);
}

} // namespace ferry::sandbox
