// The API's route table: matching, its parameters, and the README's
// reference is the table's own output.
#include "actors/http_routes.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace ferry;

namespace {

std::string param(const route_match& m, const std::string& name) {
  for (auto& [k, v] : m.params)
    if (k == name)
      return v;
  return "<none>";
}

} // namespace

TEST_CASE("a request matches its route by method and pattern, with the path's parameters") {
  auto m = match_route("DELETE", "/v1/projects/site/env/production/API_KEY?x=1");
  REQUIRE(m);
  CHECK(std::string(m->route->pattern) == "/v1/projects/{p}/env/{env}/{name}");
  CHECK(param(*m, "p") == "site");
  CHECK(param(*m, "env") == "production");
  CHECK(param(*m, "name") == "API_KEY");
  CHECK_FALSE(match_route("PATCH", "/v1/projects/site/env/production/API_KEY"));
  CHECK_FALSE(match_route("GET", "/v1/projects/site/env/production"));
  CHECK_FALSE(match_route("GET", "/v1/projects//versions")); // an empty parameter
  CHECK_FALSE(match_route("GET", "/nope"));
  auto dep = match_route("POST", "/v1/deployments/abcdefghijklm/promote");
  REQUIRE(dep);
  CHECK(std::string(dep->route->pattern) == "/v1/versions/{id}/promote");
  CHECK(match_route("GET", "/healthz")->route->who == scope::anyone);
  CHECK(match_route("POST", "/v1/users")->route->who == scope::admin);
  CHECK(match_route("PUT", "/v1/blobs/source/" + std::string(64, 'a'))->route->max_body ==
        api_limits::max_body);
  CHECK(match_route("POST", "/v1/projects/p/env")->route->max_body == api_limits::max_small_body);
}

TEST_CASE("every route is in the table once, and the README's reference is the table") {
  std::set<std::string> seen;
  for (auto& r : api_routes())
    CHECK(seen.insert(std::string(r.method) + " " + r.pattern).second);
  auto readme = test::read_file(std::string(FERRY_SOURCE_DIR) + "/README.md");
  CHECK(readme.find(api_reference()) != std::string::npos);
}
