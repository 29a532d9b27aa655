#include "actors/cluster_view.hpp"

namespace ferry {

cluster_view::cluster_view(std::string self, std::vector<node> nodes)
    : self_(std::move(self)), nodes_(std::move(nodes)) {
  for (auto& n : nodes_)
    if (n.name == self_)
      n.up = true;
}

std::vector<cluster_view::node> cluster_view::nodes() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return nodes_;
}

std::optional<cluster_view::node> cluster_view::find(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& n : nodes_)
    if (n.name == name)
      return n;
  return std::nullopt;
}

bool cluster_view::is_up(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& n : nodes_)
    if (n.name == name)
      return n.up;
  return false;
}

std::vector<std::string> cluster_view::up_with_role(const std::string& role) const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> out;
  for (auto& n : nodes_)
    if (n.up && n.roles.count(role))
      out.push_back(n.name);
  return out;
}

std::vector<std::string> cluster_view::with_role(const std::string& role) const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> out;
  for (auto& n : nodes_)
    if (n.roles.count(role))
      out.push_back(n.name);
  return out;
}

std::vector<member_status> cluster_view::members() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<member_status> out;
  for (auto& n : nodes_)
    out.push_back(member_status{
        n.name, {n.roles.begin(), n.roles.end()}, n.up, n.incarnation, n.since_ms, n.seen_ms});
  return out;
}

uint64_t cluster_view::version() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return version_;
}

uint64_t cluster_view::wait(uint64_t seen, std::chrono::milliseconds max) const {
  std::unique_lock<std::mutex> lock{mtx_};
  changed_.wait_for(lock, max, [&] { return version_ != seen; });
  return version_;
}

void cluster_view::update(const std::string& name, const std::function<void(node&)>& change) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& n : nodes_)
      if (n.name == name) {
        change(n);
        ++version_;
      }
  }
  changed_.notify_all();
}

} // namespace ferry
