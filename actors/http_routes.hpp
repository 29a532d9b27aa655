#pragma once
// The HTTP API as a table of routes (api_routes(), in http_routes.cpp): the
// method, the path pattern, who may call it, the largest body it takes and
// its handler (actors/api/, one file per resource). The server matches a
// request's head to a route, authenticates its token and checks its length
// before it reads (or allocates) the body. `ferryd --routes` prints the
// table, and the README's reference is that output.
//
// Errors: {"error":{"code":"<stable code>","message":"<one line>"}} with a 4xx/5xx.
#include "messages/node.hpp"
#include "messages/registry.hpp"
#include "messages/storage.hpp"
#include "storage/tree.hpp"

#include <caf/scoped_actor.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry {

/// Limits of the API; each has a test that fails without it.
struct api_limits {
  static constexpr size_t max_body = 64 << 20;      ///< the largest body (blobs, manifests)
  static constexpr size_t max_small_body = 1 << 20; ///< a JSON request of other routes
  static constexpr size_t max_refs_body = 16 << 20; ///< POST /v1/missing
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

/// The parameters of a matched route, by name ({name} in its pattern).
using route_params = std::vector<std::pair<std::string, std::string>>;

/// Who may call a route.
enum class scope { anyone, user, admin };

namespace api {
struct route_ctx;
}

/// One route: method, pattern ("/v1/projects/{p}/versions"; a /v1/versions/
/// pattern also matches /v1/deployments/: a deployment is a built version),
/// who may call it, the largest body it takes, its handler and what it does.
struct route_spec {
  const char* method;
  const char* pattern;
  scope who;
  size_t max_body;
  struct http_response (*handle)(api::route_ctx&);
  const char* doc;
};

/// Every route, in the order of the reference.
const std::vector<route_spec>& api_routes();

/// The API reference, from the table (Markdown).
std::string api_reference();

struct route_match {
  const route_spec* route = nullptr;
  route_params params;
};

/// The route a request's method and target name; nullopt if none (404).
std::optional<route_match> match_route(std::string_view method, std::string_view target);

struct http_request {
  std::string method;
  std::string target;
  std::string authorization;
  std::string content_type;
  std::string body;
};

struct http_response {
  http_response() = default;
  http_response(int s, std::string type, std::string b)
      : status(s), content_type(std::move(type)), body(std::move(b)) {}
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// Or a file to send as the body, from its start (its descriptor, closed
  /// with the last copy): a large answer is not held in memory.
  std::shared_ptr<const int> file;
};

/// Where answers too large to hold go while they are made (unnamed files,
/// gone with their descriptor): set once at start (the node's data dir).
void set_scratch_dir(const std::string& dir);
const std::string& scratch_dir();

/// Where deployments are served, for the URLs the API reports: set once at
/// start (http://ID-PROJECT.domain:port).
void set_deployment_urls(const std::string& domain, uint16_t port);
/// http://HOST:PORT for a host under the router.
std::string url_of_host(const std::string& host);
/// The URL of a deployment, or "" if no router is known.
std::string deployment_url(const std::string& id, const std::string& project);

/// The principal of an Authorization header ("Bearer TOKEN"); unauthorized
/// if it names none or an unknown token.
caf::expected<principal> authenticate(caf::scoped_actor& self, role_cache& roles,
                                      const std::string& authorization);

/// Runs a matched route's handler for who (an admin route refuses others),
/// on a connection's thread (the body may be moved out).
http_response dispatch(caf::scoped_actor& self, role_cache& roles, http_request& req,
                       const route_match& m, const principal& who);

/// Match, authenticate and dispatch in one call (for a request read whole).
http_response handle_request(caf::scoped_actor& self, role_cache& roles, http_request& req);

/// Reads a manifest body, JSON ({"files":[...]}) or Cap'n Proto
/// (application/x-ferry-manifest), into flat entries; "" or the reason.
/// Paths are not checked here (build_tree does that).
std::string parse_manifest_body(const std::string& content_type, const std::string& body,
                                std::vector<flat_entry>& out);

/// An error response in the API's JSON shape.
http_response error_response(int status, const std::string& code, const std::string& message);

} // namespace ferry
