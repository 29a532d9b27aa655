#include "actors/cluster_config.hpp"

#include "messages/errors.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace ferry {

const node_config* cluster_config::find(const std::string& name) const {
  for (auto& n : nodes)
    if (n.name == name)
      return &n;
  return nullptr;
}

const std::set<std::string>& known_roles() {
  static const std::set<std::string> roles{"api", "storage", "build", "deploy"};
  return roles;
}

cluster_config default_cluster() {
  cluster_config c;
  node_config local;
  local.name = "local";
  local.api = "127.0.0.1:7700";
  local.router = "127.0.0.1:7701";
  local.roles = known_roles();
  c.nodes.push_back(local);
  return c;
}

std::vector<std::string> actors_of_role(const std::string& role) {
  if (role == "storage")
    return {"store", "repairer"};
  if (role == "api")
    return {"registry", "cas", "builds", "collector"};
  if (role == "build")
    return {"slots", "builder"};
  if (role == "deploy")
    return {"runtime"};
  return {};
}

caf::expected<cluster_config> load_cluster_config(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return make_error(ec::bad_request, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_cluster_config(ss.str());
}

std::string certs_dir_of(const cluster_config& c, const std::string& config_file) {
  std::filesystem::path dir(c.certs);
  if (dir.is_absolute() || config_file.empty())
    return dir.string();
  return (std::filesystem::path(config_file).parent_path() / dir).lexically_normal().string();
}

bool split_host_port(const std::string& s, std::string& host, uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto p = s.substr(colon + 1);
  unsigned v = 0;
  auto [ptr, err] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (err != std::errc{} || ptr != p.data() + p.size() || p.empty() || v > 65535)
    return false;
  port = static_cast<uint16_t>(v);
  return true;
}

namespace {
std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  std::istringstream in(value);
  std::string item;
  while (std::getline(in, item, ','))
    if (auto t = trim(item); !t.empty())
      out.push_back(t);
  return out;
}

/// A whole number of at most max; false if it is not one.
bool parse_count(const std::string& value, uint64_t max, uint64_t& out) {
  auto [ptr, err] = std::from_chars(value.data(), value.data() + value.size(), out);
  return err == std::errc{} && ptr == value.data() + value.size() && !value.empty() && out <= max;
}

/// A bounded whole-number setting and where it goes.
struct numeric_key {
  const char* key;
  uint64_t min, max;
  std::function<void(uint64_t)> set;
};

template <class T>
std::function<void(uint64_t)> to(T& field) {
  return [&field](uint64_t v) { field = static_cast<T>(v); };
}

/// Sets the one of keys named key: "" when set, the reason when the value
/// is refused, "?" when no key has that name.
template <size_t N>
std::string set_numeric(const numeric_key (&keys)[N], const std::string& key,
                        const std::string& value) {
  for (auto& n : keys) {
    if (key != n.key)
      continue;
    uint64_t v = 0;
    if (!parse_count(value, n.max, v) || v < n.min)
      return "'" + key + "' must be a whole number from " + std::to_string(n.min) + " to " +
             std::to_string(n.max) + ", not '" + value + "'";
    n.set(v);
    return {};
  }
  return "?";
}

/// A top-level setting about tenants; "" or why it is refused.
std::string parse_tenant_key(tenant_config& t, const std::string& key, const std::string& value) {
  const numeric_key numbers[] = {
      {"max_file_mb", 1, 1 << 20, to(t.max_file_mb)},
      {"max_deploy_mb", 1, 1 << 24, to(t.max_deploy_mb)},
      {"max_project_mb", 1, 1 << 30, to(t.max_project_mb)},
      {"max_projects", 1, 1000000, to(t.max_projects)},
      {"max_build_log_mb", 1, 1 << 16, to(t.max_build_log_mb)},
      {"max_runtime_log_mb", 1, 1 << 16, to(t.max_runtime_log_mb)},
      {"runtime_memory_mb", 64, 1 << 30, to(t.runtime_memory_mb)},
      {"api_client_connections", 1, 100000, to(t.api_client_connections)},
      {"router_client_connections", 1, 1000000, to(t.router_client_connections)},
      {"sandbox_uid_base", 1000, 0xffffffffULL - 65536, to(t.sandbox_uid_base)},
  };
  if (auto why = set_numeric(numbers, key, value); why != "?")
    return why;
  if (key == "egress_allow") {
    t.egress_allow = split_list(value);
  } else if (key == "egress_private_ranges") {
    t.egress_private_ranges = split_list(value);
  } else if (key == "build_egress_allow") {
    t.build_egress_allow = value == "none" ? std::vector<std::string>{} : split_list(value);
  } else if (key == "build_network") {
    if (value != "yes" && value != "no")
      return "'build_network' is yes or no, not '" + value + "'";
    t.build_network = value == "yes";
  } else {
    return "unknown key '" + key + "' outside a [node] section";
  }
  return {};
}
} // namespace

/// A top-level setting of replication and membership: "" when taken, the
/// reason when refused, "?" when the key is not one of these.
static std::string parse_cluster_key(replication_config& r, const std::string& key,
                                     const std::string& value) {
  const numeric_key numbers[] = {
      {"replicas", 1, 16, to(r.replicas)},
      {"min_replicas", 1, 16, to(r.min_replicas)},
      {"write_timeout_ms", 100, 600000, to(r.write_timeout_ms)},
      {"failure_timeout_ms", 100, 60000, to(r.failure_timeout_ms)},
      {"cache_mb", 16, 1 << 24, to(r.cache_mb)},
      {"repair_interval_s", 1, 86400 * 7, to(r.repair_interval_s)},
      {"repair_mb_per_s", 1, 1 << 20, to(r.repair_mb_per_s)},
      {"keep_versions", 1, 1000000, to(r.keep_versions)},
      {"gc_interval_s", 1, 86400 * 30, to(r.gc_interval_s)},
      {"gc_grace_s", 1, 86400, to(r.gc_grace_s)},
  };
  return set_numeric(numbers, key, value);
}

/// "" or why the nodes cannot make a cluster.
static std::string check_cluster(const cluster_config& c) {
  std::map<std::string, std::vector<std::string>> players;
  for (auto& n : c.nodes)
    for (auto& r : n.roles)
      players[r].push_back(n.name);
  for (auto& role : {"api", "storage", "build", "deploy"})
    if (!players.count(role))
      return std::string("no node plays the ") + role + " role, and a cluster needs one (" +
             (role == std::string("api")       ? "it takes deploys and keeps the records"
              : role == std::string("storage") ? "it keeps every blob"
              : role == std::string("build")   ? "it builds every version"
                                               : "it serves every deployment") +
             ")";
  if (players["api"].size() > 1)
    return "nodes " + players["api"][0] + " and " + players["api"][1] +
           " both play the api role: one node keeps the records (for now), so one plays api";
  if (c.replication.min_replicas > c.replication.replicas)
    return "min_replicas (" + std::to_string(c.replication.min_replicas) +
           ") is more than replicas (" + std::to_string(c.replication.replicas) + ")";
  return {};
}

caf::expected<cluster_config> parse_cluster_config(const std::string& text) {
  cluster_config c;
  std::istringstream in(text);
  std::string line;
  int no = 0;
  node_config* cur = nullptr;
  auto fail = [&](const std::string& why) {
    return make_error(ec::bad_request, "cluster.conf line " + std::to_string(no) + ": " + why);
  };
  while (std::getline(in, line)) {
    ++no;
    if (auto hash = line.find('#'); hash != std::string::npos)
      line.resize(hash);
    line = trim(line);
    if (line.empty())
      continue;
    if (line.front() == '[') {
      if (line.back() != ']' || line.rfind("[node ", 0) != 0)
        return fail("expected '[node NAME]'");
      auto name = trim(line.substr(6, line.size() - 7));
      if (name.empty() || c.find(name))
        return fail("missing or duplicate node name '" + name + "'");
      // names become file names (the node's certificate): no path in them
      if (name.front() == '.' || name.size() > 64 ||
          name.find_first_not_of(
              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
              std::string::npos)
        return fail("node name '" + name + "': use letters, digits, '.', '_' and '-' (64 at most)");
      c.nodes.push_back(node_config{});
      c.nodes.back().name = name;
      cur = &c.nodes.back();
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos)
      return fail("expected 'key = value'");
    auto key = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    std::string host;
    uint16_t port = 0;
    if (!cur) {
      if (key == "domain")
        c.domain = value;
      else if (key == "certs") {
        if (value.empty())
          return fail("certs must name a directory");
        c.certs = value;
      } else if (auto why = parse_cluster_key(c.replication, key, value); why != "?") {
        if (!why.empty())
          return fail(why);
      } else if (auto why = parse_tenant_key(c.tenants, key, value); !why.empty())
        return fail(why);
    } else if (key == "router") {
      if (!split_host_port(value, host, port))
        return fail("router must be HOST:PORT, not '" + value + "'");
      cur->router = value;
    } else if (key == "api" || key == "actors") {
      if (!split_host_port(value, host, port))
        return fail("'" + key + "' must be HOST:PORT, not '" + value + "'");
      (key == "api" ? cur->api : cur->actors) = value;
    } else if (key == "build_slots" || key == "build_memory_mb" || key == "build_pids" ||
               key == "build_timeout_s" || key == "build_cpus") {
      double v = 0;
      try {
        size_t used = 0;
        v = std::stod(value, &used);
        if (used != value.size())
          throw std::invalid_argument("trailing");
      } catch (...) {
        return fail("'" + key + "' must be a number, not '" + value + "'");
      }
      if (v <= 0 || (key == "build_slots" && v > 64))
        return fail("'" + key + "' is out of range");
      if (key == "build_slots")
        cur->build_slots = static_cast<uint32_t>(v);
      else if (key == "build_memory_mb")
        cur->build_memory_mb = static_cast<uint64_t>(v);
      else if (key == "build_pids")
        cur->build_pids = static_cast<uint32_t>(v);
      else if (key == "build_timeout_s")
        cur->build_timeout_s = static_cast<int64_t>(v);
      else
        cur->build_cpus = v;
    } else if (key == "roles") {
      std::istringstream rs(value);
      std::string role;
      while (std::getline(rs, role, ',')) {
        role = trim(role);
        if (!known_roles().count(role))
          return fail("unknown role '" + role + "' (known: api, storage, build, deploy)");
        cur->roles.insert(role);
      }
    } else {
      return fail("unknown key '" + key + "'");
    }
  }
  if (c.nodes.empty())
    return make_error(ec::bad_request, "cluster.conf names no node");
  for (auto& n : c.nodes) {
    if (n.roles.empty())
      return make_error(ec::bad_request, "cluster.conf: node '" + n.name + "' has no roles");
    if (n.roles.count("api") && n.api.empty())
      return make_error(ec::bad_request,
                        "cluster.conf: node '" + n.name + "' has role api but no 'api' address");
    if (c.nodes.size() > 1 && n.actors.empty())
      return make_error(ec::bad_request, "cluster.conf: node '" + n.name +
                                             "' needs an 'actors' address in a cluster");
  }
  if (auto why = check_cluster(c); !why.empty())
    return make_error(ec::bad_request, "cluster.conf: " + why);
  return c;
}

} // namespace ferry
