#pragma once
// The build scheduler: queues builds, runs each in a slot from the slot
// manager (one detached runner per build, since a build blocks), keeps every
// build's status and log lines, cancels on request, and reports version
// states to the registry (queued, building, built, failed, canceled).
#include "messages/build.hpp"
#include "messages/node.hpp"
#include "sandbox/egress.hpp"
#include "storage/blob_store.hpp"
#include "storage/build_store.hpp"
#include "storage/dir_io.hpp"

#include <caf/actor_system.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace ferry {

struct build_config {
  uint32_t slots = 2; ///< this node's build slots (its load, to the dispatcher)
  std::string node;   ///< this node's name (in every build's status)
  std::string builders_dir;
  std::string cache_dir;
  bool shared_cache = false; ///< dependency caches also in the cluster (several build nodes)
  uint64_t memory_bytes = 2ULL << 30;
  uint32_t pids = 512;
  double cpus = 1.0;
  int64_t timeout_s = 900;
  sandbox::egress_policy egress;       ///< where an install (or an allowed build) may connect
  bool build_network = false;          ///< a build may have network when its project asks
  sandbox::egress_policy build_egress; ///< where every build step may connect (none: no hosts)
  import_limits output;                ///< bounds of a build's output
  uint64_t max_log_bytes = 16 << 20;   ///< a build's log; cut with a note past it
};

struct build_record {
  build_status status;
  build_spec spec;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  uint32_t slot = 0;
};

struct build_scheduler_state {
  /// Cancel flags of the running builds, shared with the exit functor that
  /// stops them if the scheduler dies (the functor runs after the state is gone).
  std::shared_ptr<std::set<std::shared_ptr<std::atomic<bool>>>> running =
      std::make_shared<std::set<std::shared_ptr<std::atomic<bool>>>>();
  caf::actor writer; ///< detached: persists builds and log lines, reads logs back
  std::map<std::string, build_record> builds;
  std::deque<std::string> queue;
  std::map<std::string, std::string> active; ///< version id -> its queued or running build
  static inline const char* name = "build_scheduler";
};

/// The scheduler finds the slot manager ("slots") and the registry through
/// the node directory.
build_scheduler_actor spawn_build_scheduler(caf::actor_system& sys, blob_store_ptr store,
                                            directory_actor directory, build_config config,
                                            std::shared_ptr<build_store> builds);

} // namespace ferry
