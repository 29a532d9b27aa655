// ferry admin: work on a cluster's own files, done where cluster.conf is
// (no server involved).
#include "actors/cluster_certs.hpp"
#include "actors/cluster_config.hpp"
#include "cli/commands.hpp"
#include "messages/errors.hpp"

#include <iostream>

namespace ferry::cli {

namespace {

const char* admin_help = R"(usage: ferry admin cluster-certs --config FILE [--out DIR] [--days N]

Makes the certificates of the actor port, the port the nodes of a cluster
talk over (TLS both ways: a node accepts only peers whose certificate the
cluster CA signed, and refuses and logs any other connection).

  --config FILE  the cluster.conf the nodes run with: one certificate per node
  --out DIR      where to write them [cluster.conf's `certs`, default
                 certs/ next to cluster.conf]
  --days N       how long the certificates are valid [3650]

Writes DIR/ca.pem and DIR/ca.key (the cluster CA; an existing one is kept
and signs), and DIR/NODE.pem and DIR/NODE.key for every node that has no
valid certificate yet: run it again after adding a node. Each node needs
ca.pem and its own NODE.pem and NODE.key, in its `certs` directory; keep
ca.key off the nodes.
)";

} // namespace

int cmd_admin(const args& a) {
  if (a.empty() || a[0] == "--help" || a[0] == "-h") {
    std::cout << admin_help;
    return a.empty() ? 2 : 0;
  }
  if (a[0] != "cluster-certs")
    return usage_error("unknown admin command '" + a[0] + "'", admin_help);
  std::string config, out, days_s = "3650";
  for (size_t i = 1; i < a.size(); ++i) {
    auto value = [&](std::string& v) {
      if (i + 1 >= a.size())
        return false;
      v = a[++i];
      return true;
    };
    if (a[i] == "--help" || a[i] == "-h") {
      std::cout << admin_help;
      return 0;
    }
    bool ok = a[i] == "--config" ? value(config)
              : a[i] == "--out"  ? value(out)
              : a[i] == "--days"
                  ? value(days_s)
                  : (usage_error("unknown option '" + a[i] + "'", admin_help), false);
    if (!ok)
      return 2;
  }
  if (config.empty())
    return usage_error("--config FILE is needed: the certificates are for its nodes", admin_help);
  int days = 0;
  try {
    days = std::stoi(days_s);
  } catch (...) {
  }
  if (days < 1 || days > 36500)
    return usage_error("--days must be 1 to 36500", admin_help);
  auto cluster = load_cluster_config(config);
  if (!cluster)
    return fail(reason_of(cluster.error()));
  if (out.empty())
    out = certs_dir_of(*cluster, config);
  std::vector<std::string> nodes;
  for (auto& n : cluster->nodes)
    nodes.push_back(n.name);
  std::vector<std::string> report;
  auto why = make_cluster_certs(out, nodes, days, report);
  for (auto& line : report)
    std::cerr << line << "\n";
  if (!why.empty())
    return fail(why);
  std::cerr << "each node needs ca.pem, NODE.pem and NODE.key in " << out
            << "/ (cluster.conf's `certs`); keep ca.key away from the nodes\n";
  return 0;
}

} // namespace ferry::cli
