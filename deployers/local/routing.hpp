#pragma once
// The routing of the Build Output API v3 (config.json "routes"), as Vercel
// runs it: routes grouped in phases by their `handle`, each matching a
// path (`src`, `methods`, `has`, `missing`) and then changing it (`dest`),
// adding response headers (`headers`, a redirect's Location among them),
// setting a status, going on (`continue`) or checking that the new path
// exists (`check`). vercel.json's rewrites, redirects, headers, cleanUrls
// and trailingSlash are compiled into such routes by the builder
// (builders/vercel-routes.js): the router knows this one model.
//
// Everything here comes from a tenant's build: patterns are RE2 (linear
// time), a pattern RE2 cannot run is refused when the deployment loads,
// and a request runs through at most a fixed number of phases.
#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace re2 {
class RE2;
}

namespace ferry::runtime {

/// The phases of a request's routing, in the order a miss goes through
/// them; `hit` and `error` are entered by a found path and by a missing
/// one.
enum class route_phase : uint8_t { none, filesystem, rewrite, resource, miss, hit, error };
constexpr size_t route_phase_count = 7;

/// One of a route's `has` or `missing` conditions.
struct route_condition {
  enum class kind : uint8_t { host, header, cookie, query };
  kind type = kind::header;
  std::string key;                       ///< (a header's in lower case)
  std::shared_ptr<const re2::RE2> value; ///< matched whole; none: present
};

struct route_rule {
  /// matched against the whole decoded path (Vercel anchors src with ^ $)
  std::shared_ptr<const re2::RE2> src;
  std::string dest; ///< "": the path stays; "$1" and "$name" are replaced
  std::vector<std::pair<std::string, std::string>> headers; ///< values may use $1, $name
  std::vector<std::string> methods;                         ///< upper case; none: any
  std::vector<route_condition> has, missing;
  int status = 0;
  bool go_on = false;    ///< `continue`
  bool check = false;    ///< the new path must exist, or routing goes on
  bool override = false; ///< drops the headers and status set before
};

struct route_table {
  std::array<std::vector<route_rule>, route_phase_count> phases;
  size_t rules = 0;
  int64_t program = 0; ///< RE2 instructions of its patterns
  bool empty() const;
};

/// config.json's "routes" (an array); an error says which route and why.
caf::expected<route_table> parse_routes(const nlohmann::json& routes);

/// A query string's pairs, decoded ('+' a space; a malformed escape keeps its text).
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q);
/// s in lower case (ASCII).
std::string lower(std::string_view s);
/// A Cookie header's name=value pairs, as they are.
std::vector<std::pair<std::string, std::string>> parse_cookies(std::string_view header);

/// A pattern (PCRE syntax, within a route's limits) for whole paths, as a
/// route's src is compiled (case-insensitive, as a src is by default); an
/// error says why it cannot run.
caf::expected<std::shared_ptr<const re2::RE2>> compile_path_pattern(const std::string& pattern,
                                                                    const std::string& what);
/// Whether a compiled pattern matches the whole text.
bool matches_whole(const re2::RE2& re, std::string_view text);

/// What routing reads of a request.
struct route_request {
  std::string_view method; ///< "GET"
  std::string_view path;   ///< decoded, begins with '/'
  std::string_view query;  ///< raw, without '?'
  std::string_view host;
  /// a request header by lower-case name (nullopt: absent)
  std::function<std::optional<std::string_view>(std::string_view)> header;
};

/// Where a request ends up.
struct route_result {
  std::string path;                                         ///< the path to serve
  std::string query;                                        ///< raw, for a function
  std::vector<std::pair<std::string, std::string>> headers; ///< to add to the answer
  int status = 0;                                           ///< 0: the target's own
  bool found = false;                                       ///< path names a file or function
  bool redirect = false;    ///< answer status with the Location among headers
  bool external = false;    ///< path is a URL of another host (not served)
  bool loop = false;        ///< routing went round past its limit
  bool over_budget = false; ///< routing took too long (a table too costly for the path)
};

/// Routes a request. `exists` tells whether a (decoded) path names a
/// static file or a function of the deployment.
route_result route_request_through(const route_table& table, const route_request& req,
                                   const std::function<bool(const std::string&)>& exists);

} // namespace ferry::runtime
