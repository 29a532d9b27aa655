// Frameworks' own layouts, built in the real sandbox (their dependencies
// from the registry) and served by the real router, every route checked by
// status and content. The fixtures (tests/fixtures/frameworks/) are written
// from each framework's documented layout, without a ferry file.
#include "tests/integration/runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <string>

using namespace ferry::test;
using json = nlohmann::json;

namespace {

std::string headers_of(const std::string& url) {
  return run({"/usr/bin/curl", "-s", "-I", "-m", "20", url}, {}, "/tmp").out;
}

} // namespace

TEST_CASE("Next.js: its standalone server behind the bridge, its assets from the router",
          "[runtime][frameworks]") {
  runtime_fixture f;
  auto d = f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/frameworks/nextjs", "nextfx");
  CHECK_THAT(d.err, Catch::Contains("next.js: the standalone server on every route"));
  auto at = [&](const std::string& path) { return d.out + path; };

  auto home = http("GET", at("/"));
  CHECK(home.status == 200);
  CHECK_THAT(home.body, Catch::Contains("next home"));
  auto post = http("GET", at("/blog/first-post"));
  CHECK(post.status == 200);
  CHECK_THAT(post.body, Catch::Contains("post <!-- -->first-post") || Catch::Contains("post first-post"));
  auto api = http("GET", at("/api/hello?name=ferry"));
  CHECK(api.status == 200);
  CHECK(json::parse(api.body)["hello"] == "ferry");
  // public/ and the build's assets, from the router, the latter immutable
  auto robots = http("GET", at("/robots.txt"));
  CHECK(robots.status == 200);
  CHECK(robots.body == "User-agent: *\n");
  std::smatch m;
  REQUIRE(std::regex_search(home.body, m, std::regex(R"re(/_next/static/[^"]+\.js)re")));
  CHECK(http("GET", at(m.str())).status == 200);
  CHECK_THAT(headers_of(at(m.str())),
             Catch::Contains("cache-control: public, max-age=31536000, immutable"));
  CHECK(http("GET", at("/_next/static/chunks/none.js")).status == 404);
  // next.config's redirect, and its not-found page with a 404
  CHECK_THAT(headers_of(at("/old-home")), Catch::StartsWith("HTTP/1.1 308"));
  auto missing = http("GET", at("/no/such/page"));
  CHECK(missing.status == 404);
  CHECK_THAT(missing.body, Catch::Contains("next: no such page"));
}
