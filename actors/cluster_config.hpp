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

/// What tenants may use: the sandboxes' way out and the bounds on every
/// tenant (top-level settings of cluster.conf, documented there).
struct tenant_config {
  std::vector<std::string> egress_allow; ///< hosts; empty: the host's npm registry
  std::vector<std::string> egress_private_ranges;
  bool build_network = false; ///< a build may have the egress path when its project asks
  /// Hosts every build step may reach without asking (what frameworks fetch
  /// while they build: next/font/google's stylesheets and fonts); empty: none.
  std::vector<std::string> build_egress_allow = {"fonts.googleapis.com", "fonts.gstatic.com"};
  uint32_t sandbox_uid_base = 0x70000000; ///< the first of 65536 unprivileged host ids
  uint64_t max_file_mb = 64;              ///< the largest file of a build's output
  uint64_t max_deploy_mb = 1024;          ///< the files of one version, and of one build's output
  uint64_t max_project_mb = 10240;        ///< the versions and outputs a project keeps
  uint32_t max_projects = 100;            ///< the projects a user owns (an admin: no bound)
  uint64_t max_build_log_mb = 16;         ///< a build's log; the rest is cut with a note
  uint64_t max_runtime_log_mb = 64;       ///< a deployment's runtime log; then it starts anew
  uint64_t runtime_memory_mb =
      0; ///< instances' memory on a node, together (0: 3/4 of RAM); a user half
  uint32_t api_client_connections = 128;     ///< API connections of one client address
  uint32_t router_client_connections = 1024; ///< router connections of one client address
};

/// How the nodes keep data together (top-level settings, documented in
/// cluster.conf).
struct replication_config {
  uint32_t replicas = 2;     ///< copies of every blob (all storage nodes if fewer)
  uint32_t min_replicas = 0; ///< copies a write may settle for after the deadline (0: replicas)
  int64_t write_timeout_ms = 10000;  ///< how long a write waits for its copies
  int64_t failure_timeout_ms = 2000; ///< a node unheard of this long is down
  uint64_t cache_mb = 1024;          ///< the blob cache of a node without the storage role
  int64_t repair_interval_s = 300;   ///< a repair pass on every storage node at least this often
  uint64_t repair_mb_per_s = 64;     ///< how fast a repairer copies
  uint32_t keep_versions = 20;       ///< versions a project keeps (and what is served)
  int64_t gc_interval_s = 3600;      ///< a garbage collection at least this often
  int64_t gc_grace_s = 3600;         ///< what an upload counted on this recently is kept
};

struct cluster_config {
  std::vector<node_config> nodes;
  std::string domain = "ferry.localhost";
  /// The actor port's certificates (cluster_certs.hpp): a directory,
  /// relative to cluster.conf's unless absolute.
  std::string certs = "certs";
  tenant_config tenants;
  replication_config replication;

  const node_config* find(const std::string& name) const;
};

/// The roles every node may play.
const std::set<std::string>& known_roles();

/// One node, "local", with every role: the embedded default.
cluster_config default_cluster();

/// Parses cluster.conf text; errors name the line.
caf::expected<cluster_config> parse_cluster_config(const std::string& text);

/// Reads and parses the cluster.conf at path.
caf::expected<cluster_config> load_cluster_config(const std::string& path);

/// The certificates directory of a cluster read from config_file.
std::string certs_dir_of(const cluster_config& c, const std::string& config_file);

/// Splits "host:port"; false if malformed.
bool split_host_port(const std::string& s, std::string& host, uint16_t& port);

/// The actor names each role runs ("storage" -> "store", "api" -> "registry"
/// and "cas", the blob store the API sees).
std::vector<std::string> actors_of_role(const std::string& role);

} // namespace ferry
