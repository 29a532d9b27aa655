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
  CHECK_THAT(post.body,
             Catch::Contains("post <!-- -->first-post") || Catch::Contains("post first-post"));
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
  // its middleware.js (Next's own, run by its server) on the paths it matches
  CHECK_THAT(headers_of(at("/")), Catch::Contains("x-next-middleware: ran"));
  CHECK_THAT(headers_of(at("/gate")), Catch::StartsWith("HTTP/1.1 307"));
}

namespace {

/// Deploys tests/fixtures/frameworks/NAME and checks the routes every
/// framework fixture has: a page, a dynamic page, a JSON endpoint, a public
/// file, and the framework's own 404 page.
void check_framework(const std::string& name, const std::string& says) {
  runtime_fixture f;
  auto d =
      f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/frameworks/" + name, name + "fx");
  CHECK_THAT(d.err, Catch::Contains(says));
  auto at = [&](const std::string& path) { return d.out + path; };
  auto home = http("GET", at("/"));
  CHECK(home.status == 200);
  CHECK_THAT(home.body, Catch::Contains(name + " home"));
  auto dynamic = http("GET", at(name == "react-router" ? "/users/42" : "/blog/first-post"));
  CHECK(dynamic.status == 200);
  CHECK_THAT(dynamic.body,
             Catch::Contains(name == "react-router" ? "user <!-- -->42" : "post first-post") ||
                 Catch::Contains(name == "react-router" ? "user 42" : "post <!-- -->first-post"));
  auto api = http("GET", at("/api/hello?name=ferry"));
  CHECK(api.status == 200);
  INFO(api.body);
  CHECK(json::parse(api.body, nullptr, false).value("hello", "") == "ferry");
  auto file = http("GET", at("/hello.txt"));
  CHECK(file.status == 200);
  CHECK(file.body == name + " " +
                         (name == "react-router" ? "public"
                          : name == "sveltekit"  ? "static"
                                                 : "public") +
                         " file\n");
  auto missing = http("GET", at("/no/such/page"));
  CHECK(missing.status == 404);
  CHECK_THAT(missing.body, Catch::Contains(name + ": no such page") ||
                               Catch::Contains(name + ": <!-- -->no such page"));
  if (dynamic.status != 200) { // (why: the runtime's log of the deployment)
    auto id = d.out.substr(d.out.find("://") + 3);
    id = id.substr(0, id.find('-'));
    auto logs = ferry_cli({"logs", id, "--runtime"}, f.node.url, f.node.token, f.home);
    UNSCOPED_INFO(logs.out.substr(0, 6000) << logs.err);
    CHECK(dynamic.status == 200);
  }
}

} // namespace

TEST_CASE("React Router (framework mode): react-router-serve as the start script",
          "[runtime][frameworks]") {
  check_framework("react-router", "react-router: the server of \"react-router-serve");
}

TEST_CASE("SvelteKit with adapter-node: its server, a prerendered page from the router",
          "[runtime][frameworks]") {
  check_framework("sveltekit", "sveltekit: the server of \"node build\"");
}

TEST_CASE("Astro with @astrojs/node: its standalone server, a prerendered page",
          "[runtime][frameworks]") {
  check_framework("astro", "astro: the server of \"node ./dist/server/entry.mjs\"");
}

TEST_CASE("Nuxt: Nitro's node-server preset", "[runtime][frameworks]") {
  check_framework("nuxt", "nuxt: the server of \"node .output/server/index.mjs\"");
}

namespace {

/// A Node server framework's app: its home, a route with a parameter, its
/// own 404.
void check_server(const std::string& name) {
  runtime_fixture f;
  auto d =
      f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/frameworks/" + name, name + "fx");
  CHECK_THAT(d.err, Catch::Contains("on every route"));
  auto at = [&](const std::string& path) { return d.out + path; };
  auto home = http("GET", at("/"));
  CHECK(home.status == 200);
  CHECK(home.body == name + " home");
  auto user = http("GET", at("/users/42"));
  CHECK(user.status == 200);
  INFO(user.body);
  auto j = json::parse(user.body, nullptr, false);
  CHECK(j.value("id", "") == "42");
  CHECK(j.value("via", "") == name);
  auto missing = http("GET", at("/no/such/page"));
  CHECK(missing.status == 404);
  CHECK(missing.body == name + ": no such page");
  if (home.status != 200) { // (why: the runtime's log of the deployment)
    auto id = d.out.substr(d.out.find("://") + 3);
    auto logs = ferry_cli({"logs", id.substr(0, id.find('-')), "--runtime"}, f.node.url,
                          f.node.token, f.home);
    UNSCOPED_INFO(logs.out.substr(0, 6000) << logs.err);
    CHECK(home.status == 200);
  }
}

/// A static site framework's build: its pages, from the router.
void check_static(const std::string& name,
                  const std::vector<std::pair<std::string, std::string>>& pages,
                  const std::string& says, const std::string& not_found = "") {
  runtime_fixture f;
  auto d =
      f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/frameworks/" + name, name + "fx");
  CHECK_THAT(d.err, Catch::Contains(says));
  for (auto& [path, text] : pages) {
    auto got = http("GET", d.out + path);
    INFO(path);
    CHECK(got.status == 200);
    CHECK_THAT(got.body, Catch::Contains(text));
  }
  auto missing = http("GET", d.out + "/no/such/page");
  CHECK(missing.status == 404);
  CHECK_THAT(missing.body, Catch::Contains(not_found)); // (the site's own 404 page)
}

} // namespace

TEST_CASE(
    "Express and Fastify and Koa (listen) and Hono (a default export) and fastify-cli (a "
    "start script running a package command) and Hono in TypeScript (built then started - or "
    "src/index.ts): "
    "one function on every route",
    "[runtime][frameworks]") {
  for (auto name : {"express", "fastify", "koa", "hono", "fastify-cli", "hono-ts", "hono-src-ts"}) {
    INFO(name);
    check_server(name);
  }
}

TEST_CASE("Vite and Eleventy and VitePress: built and served from their own output folders",
          "[runtime][frameworks]") {
  check_static("vite", {{"/", "vite home"}, {"/hello.txt", "vite public file"}}, "serving dist/");
  check_static("eleventy", {{"/", "eleventy home"}, {"/blog/first-post/", "post first-post"}},
               "serving _site/");
  check_static("vitepress", {{"/", "vitepress home"}, {"/guide", "the guide page"}},
               "vitepress build docs (VitePress, no build script)");
}

TEST_CASE("Gatsby: its static build from public/ with its own 404 page", "[runtime][frameworks]") {
  check_static("gatsby",
               {{"/", "gatsby home"},
                {"/about/", "the about page"},
                {"/about", "the about page"},
                {"/hello.txt", "gatsby static file"}},
               "npm run build (Gatsby)", "gatsby: no such page");
}

TEST_CASE("SvelteKit on adapter-auto (sv create's minimal template): built with adapter-node",
          "[runtime][frameworks]") {
  runtime_fixture f;
  auto d = f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/frameworks/sveltekit-auto",
                    "svauto");
  CHECK_THAT(d.err, Catch::Contains("@sveltejs/adapter-node@5") &&
                        Catch::Contains("built with adapter-node (vite.config.js)"));
  auto home = http("GET", d.out + "/");
  CHECK(home.status == 200);
  CHECK_THAT(home.body, Catch::Contains("Welcome to SvelteKit"));
  CHECK(http("GET", d.out + "/robots.txt").status == 200);
  CHECK(http("GET", d.out + "/no/such/page").status == 404);
}

TEST_CASE("Astro without an adapter and SvelteKit with adapter-static: their prerendered pages",
          "[runtime][frameworks]") {
  check_static("astro-static",
               {{"/", "astro-static home"},
                {"/blog/first-post", "post first-post"},
                {"/blog/second-post/", "post second-post"},
                {"/hello.txt", "astro-static public file"}},
               "serving dist/");
  check_static("sveltekit-static",
               {{"/", "sveltekit-static home"},
                {"/about", "sveltekit about, prerendered"},
                {"/blog/first-post", "post first-post"},
                {"/hello.txt", "sveltekit static file"}},
               "serving build/");
}

TEST_CASE("Docusaurus: built, its docs and pages from build/", "[runtime][frameworks]") {
  check_static("docusaurus",
               {{"/", "docusaurus home"},
                {"/docs/intro", "docusaurus intro page"},
                {"/hello.txt", "docusaurus static file"}},
               "serving build/");
}
