#pragma once
// The unprivileged host ids that sandboxes run as. Each live sandbox holds
// one (uid = gid) of its own, from a range no real user has: its files and
// processes are its own and nobody else's, never root's.
#include <cstdint>

namespace ferry::sandbox {

/// The first of `count` consecutive host ids (default 1879048192, 65536 of
/// them: 0x70000000, above the ranges systemd gives to users and containers).
/// Set once at start, before any sandbox runs.
void set_host_id_range(uint32_t first, uint32_t count);

/// One id, held until destroyed; never handed to two holders at once.
class host_id {
public:
  host_id(); ///< takes a free id; id() is 0 if every one is taken
  ~host_id();
  host_id(const host_id&) = delete;
  host_id& operator=(const host_id&) = delete;

  uint32_t id() const { return id_; }

private:
  uint32_t id_ = 0;
};

} // namespace ferry::sandbox
