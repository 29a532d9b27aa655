#pragma once
// Routes of the HTTP API. Every route but /healthz needs a bearer token.
//
//   GET  /healthz                              liveness
//   GET  /v1/whoami                            the token's user
//   POST /v1/missing                           {"source":[h..],"tree":[h..]} -> the absent ones
//                                              (or binary: application/x-ferry-refs)
//   PUT  /v1/blobs/{source|tree}/{hash}        one blob, body checked against hash
//   POST /v1/blobs                             a pack of blobs (messages/storage.hpp, blob_pack)
//   GET  /v1/blobs/{source|tree}/{hash}        one blob's bytes (admin)
//   GET  /v1/projects                          the caller's projects
//   GET  /v1/projects/{p}                      one project
//   GET  /v1/projects/{p}/versions             its versions
//   POST /v1/projects/{p}/versions             create from {"root":h} or {"files":[..]}
//                                              (JSON, or Cap'n Proto rec::Manifest with
//                                              Content-Type application/x-ferry-manifest);
//                                              "seal":true or ?seal=1 seals at once
//   GET  /v1/versions/{id}                     one version
//   GET  /v1/versions/{id}/files               its files, from the stored tree
//   POST /v1/versions/{id}/seal                created -> sealed (and a build queued)
//   POST /v1/versions/{id}/build               build again, no upload (?no_cache=1)
//   GET  /v1/versions/{id}/builds              its builds
//   GET  /v1/versions/{id}/artifact            its latest build's output, as a tar
//   GET  /v1/builds/{id}                       one build
//   GET  /v1/builds/{id}/logs?from=N           its log lines from N on
//   POST /v1/builds/{id}/cancel                stop it
//   POST /v1/users                             (admin) {"name":..,"admin":false} -> token
//   GET  /v1/admin/actors                      supervised actors of this node
//   POST /v1/admin/actors/{name}/kill          kill one (the supervisor restarts it)
//
// Errors: {"error":{"code":"<stable code>","message":"<one line>"}} with a 4xx/5xx.
#include "messages/node.hpp"
#include "messages/storage.hpp"
#include "storage/tree.hpp"

#include <caf/scoped_actor.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ferry {

/// Limits of the API; each has a test that fails without it.
struct api_limits {
  static constexpr size_t max_body = 64 << 20;      ///< any request body
  static constexpr size_t max_json_body = 64 << 20; ///< a JSON manifest
  static constexpr size_t max_hashes = 200000;      ///< hashes in one /v1/missing
  static constexpr size_t max_entries = 1000000;    ///< files in one manifest
};

/// Role actors by name, looked up through the directory and cached.
class role_cache {
public:
  explicit role_cache(directory_actor dir) : dir_(std::move(dir)) {}
  caf::expected<caf::actor> get(caf::scoped_actor& self, const std::string& name);
  void drop(const std::string& name);
  const directory_actor& directory() const { return dir_; }

  /// Totals of trees already walked completely (content-addressed, so they
  /// never change); at most 4096 are kept.
  std::optional<tree_stats> walked(const std::string& root);
  void remember_walk(const std::string& root, const tree_stats& stats);

private:
  directory_actor dir_;
  std::mutex mtx_;
  std::map<std::string, caf::actor> cache_;
  std::map<std::string, tree_stats> walked_;
};

struct http_request {
  std::string method;
  std::string target;
  std::string authorization;
  std::string content_type;
  std::string body;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

/// Where deployments are served, for the URLs the API reports: set once at
/// start (http://ID-PROJECT.domain:port).
void set_deployment_urls(const std::string& domain, uint16_t port);
/// http://HOST:PORT for a host under the router.
std::string url_of_host(const std::string& host);
/// The URL of a deployment, or "" if no router is known.
std::string deployment_url(const std::string& id, const std::string& project);

/// Handles one request on a connection's thread (its body may be moved out).
http_response handle_request(caf::scoped_actor& self, role_cache& roles, http_request& req);

/// Reads a manifest body, JSON ({"files":[...]}) or Cap'n Proto
/// (application/x-ferry-manifest), into flat entries; "" or the reason.
/// Paths are not checked here (build_tree does that).
std::string parse_manifest_body(const std::string& content_type, const std::string& body,
                                std::vector<flat_entry>& out);

/// An error response in the API's JSON shape.
http_response error_response(int status, const std::string& code, const std::string& message);

} // namespace ferry
