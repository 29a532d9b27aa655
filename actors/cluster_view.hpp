#pragma once
// What one node knows of the cluster: the nodes of cluster.conf, which of
// them are up, what roles they play, and the directory of each (to reach
// its actors). The node supervisor writes it (heartbeats, connections);
// actors and blocking code (the replicated blob store) read it.
// Thread-safe; every read is a copy.
#include "messages/node.hpp"

#include <caf/actor.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ferry {

class cluster_view {
public:
  struct node {
    std::string name;
    std::set<std::string> roles;
    bool up = false;
    uint64_t incarnation = 0;
    int64_t since_ms = 0;
    int64_t seen_ms = 0;
    caf::actor directory; ///< its node supervisor (null for this node)
  };

  /// nodes in cluster.conf order; self is up from the start.
  cluster_view(std::string self, std::vector<node> nodes);

  const std::string& self() const { return self_; }
  std::vector<node> nodes() const;
  std::optional<node> find(const std::string& name) const;
  bool is_up(const std::string& name) const;
  /// The nodes up now that play role, in cluster.conf order.
  std::vector<std::string> up_with_role(const std::string& role) const;
  /// Every node that plays role, up or not, in cluster.conf order.
  std::vector<std::string> with_role(const std::string& role) const;
  std::vector<member_status> members() const;

  /// Bumped on every change of a node's state.
  uint64_t version() const;
  /// Waits until the version passes seen or max passes; the version then.
  uint64_t wait(uint64_t seen, std::chrono::milliseconds max) const;

  /// The supervisor's: changes one node (no-op for an unknown name).
  void update(const std::string& name, const std::function<void(node&)>& change);

private:
  std::string self_;
  mutable std::mutex mtx_;
  mutable std::condition_variable changed_;
  std::vector<node> nodes_;
  uint64_t version_ = 1;
};

using cluster_view_ptr = std::shared_ptr<cluster_view>;

} // namespace ferry
