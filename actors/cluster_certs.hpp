#pragma once
// The certificates of the actor port: a cluster CA and one certificate per
// node, made by `ferry admin cluster-certs`. Nodes accept only peers whose
// certificate the cluster CA signed (TLS, both ways: caf::openssl).
#include <string>
#include <vector>

namespace ferry {

/// Where one node's files are in a certificates directory.
struct node_cert_paths {
  std::string ca;   ///< DIR/ca.pem: the cluster CA's certificate
  std::string cert; ///< DIR/NODE.pem
  std::string key;  ///< DIR/NODE.key (mode 0600)
};

node_cert_paths cert_paths_of(const std::string& dir, const std::string& node);

/// Makes dir/ca.pem and dir/ca.key unless they exist (then they sign), and
/// a certificate and key for every node that has none yet. Each line of
/// report says what was written or kept. Returns "" or the reason.
std::string make_cluster_certs(const std::string& dir, const std::vector<std::string>& nodes,
                               int days, std::vector<std::string>& report);

/// "" if the node's certificate and key load, belong together, and the CA
/// signed the certificate (and it has not expired); else why not.
std::string check_node_cert(const node_cert_paths& paths);

} // namespace ferry
