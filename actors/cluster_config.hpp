#pragma once
// cluster.conf: which nodes exist, where they listen, which roles they play.
// The format is documented in the shipped cluster.conf.
#include <caf/expected.hpp>

#include <set>
#include <string>
#include <vector>

namespace ferry {

struct node_config {
  std::string name;
  std::string api;    ///< host:port of the HTTP API (api role)
  std::string actors; ///< host:port where the node's directory is published
  std::string router; ///< host:port of the router (deploy role); empty: the API's port + 1
  std::set<std::string> roles;
  // build role: the slot pool and the limits of each build's sandbox
  uint32_t build_slots = 2;
  uint64_t build_memory_mb = 2048;
  uint32_t build_pids = 512;
  double build_cpus = 1.0;
  int64_t build_timeout_s = 900;
};

struct cluster_config {
  std::vector<node_config> nodes;
  std::string domain = "ferry.localhost";

  const node_config* find(const std::string& name) const;
};

/// The roles every node may play.
const std::set<std::string>& known_roles();

/// One node, "local", with every role: the embedded default.
cluster_config default_cluster();

/// Parses cluster.conf text; errors name the line.
caf::expected<cluster_config> parse_cluster_config(const std::string& text);

/// Splits "host:port"; false if malformed.
bool split_host_port(const std::string& s, std::string& host, uint16_t& port);

/// The actor names each role runs ("storage" -> "cas", "api" -> "registry").
std::vector<std::string> actors_of_role(const std::string& role);

} // namespace ferry
