// vercel.json's routing and a prebuilt output's routes, through real ferryd
// and ferry processes: redirects, headers, rewrites, cleanUrls and
// trailingSlash, compiled by the builder into config.json routes and run by
// the router.
#include "tests/integration/runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>

using namespace ferry::test;
using json = nlohmann::json;

namespace {

/// The answer's status line and headers (lower-case names) and body, as
/// curl gets them, redirects not followed.
struct answer {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

answer fetch(const std::string& url, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"/usr/bin/curl", "-s", "-i", "-m", "10"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(url);
  auto r = run(args, {}, "/tmp");
  answer a;
  auto& out = r.out;
  auto end = out.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  a.body = out.substr(end + 4);
  size_t pos = out.find("\r\n");
  a.status = std::stoi(out.substr(9, 3));
  while (pos < end) {
    auto next = out.find("\r\n", pos + 2);
    auto line = out.substr(pos + 2, next - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      auto name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      a.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    pos = next;
  }
  return a;
}

} // namespace

TEST_CASE("vercel.json's routing: redirects, headers, rewrites, cleanUrls and trailingSlash",
          "[runtime]") {
  runtime_fixture f;
  auto d = f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/vercel-routing", "vroute");
  INFO(d.err);
  REQUIRE(d.exit_code == 0);
  CHECK_THAT(d.err, Catch::Contains("route(s) from vercel.json"));
  auto at = [&](const std::string& path) { return d.out + path; };

  // cleanUrls: the page without its .html, and a redirect to it
  auto about = fetch(at("/about"));
  CHECK(about.status == 200);
  CHECK(about.body == "<p>about</p>\n");
  CHECK(about.headers["x-frame-options"] == "DENY");
  auto html = fetch(at("/about.html"));
  CHECK(html.status == 308);
  CHECK(html.headers["location"] == "/about");
  CHECK(fetch(at("/index.html")).headers["location"] == "/");
  // trailingSlash: false
  auto slash = fetch(at("/about/?x=1"));
  CHECK(slash.status == 308);
  CHECK(slash.headers["location"] == "/about?x=1");

  // redirects: permanent, temporary, a status of their own, a condition
  auto moved = fetch(at("/old-blog/hello?utm=mail"));
  CHECK(moved.status == 308);
  CHECK(moved.headers["location"] == "/blog/hello?utm=mail");
  CHECK(fetch(at("/temp")).status == 307);
  auto out = fetch(at("/go"));
  CHECK(out.status == 301);
  CHECK(out.headers["location"] == "https://example.com/");
  auto beta = fetch(at("/beta"), {"-H", "Cookie: theme=dark; beta=1"});
  CHECK(beta.status == 308);
  CHECK(beta.headers["location"] == "/about");
  auto no_beta = fetch(at("/beta"), {"-H", "Cookie: beta=2"});
  CHECK(no_beta.status == 404);
  CHECK(no_beta.body == "<p>no such page</p>\n");

  // headers: on static files, with the catch-all's too
  auto css = fetch(at("/assets/style.css"));
  CHECK(css.status == 200);
  CHECK(css.headers["cache-control"] == "public, max-age=31536000, immutable");
  CHECK(css.headers["x-frame-options"] == "DENY");

  // rewrites: to a function (the source's parameters in its query), to a
  // dynamic route, to a page; the client sees none of it
  auto post = fetch(at("/blog/hello"));
  CHECK(post.status == 200);
  CHECK(post.headers["x-frame-options"] == "DENY"); // (a function's answer too)
  auto p = json::parse(post.body);
  CHECK(p["slug"] == "hello");
  CHECK(p["url"] == "/blog/hello?slug=hello");
  auto user = json::parse(fetch(at("/u/42?id=spoofed")).body);
  CHECK(user["id"] == "42");
  CHECK(user["url"] == "/u/42?id=42");
  auto direct = json::parse(fetch(at("/api/users/7")).body);
  CHECK(direct["id"] == "7");
  auto app = fetch(at("/app/settings/profile"));
  CHECK(app.status == 200);
  CHECK(app.body == "<p>the app shell</p>\n");

  // a path through the routes is at most 4 KiB (matching costs its length)
  CHECK(fetch(at("/app/" + std::string(4091, 'a'))).status == 200); // (4096 bytes)
  CHECK(fetch(at("/app/" + std::string(4092, 'a'))).status == 414);

  // what is not there: the project's 404 page, with the headers
  auto missing = fetch(at("/nope"));
  CHECK(missing.status == 404);
  CHECK(missing.body == "<p>no such page</p>\n");
  CHECK(missing.headers["x-frame-options"] == "DENY");
}

TEST_CASE("a vercel.json the router cannot run fails the build and says why", "[runtime]") {
  runtime_fixture f;
  auto cases = std::vector<std::pair<std::string, std::string>>{
      {R"({"rewrites": [{"source": "/docs/:p*", "destination": "https://docs.example.com/:p*"}]})",
       "a rewrite to another host"},
      {R"({"routes": [{"src": "/(?!api).*", "dest": "/index.html"}]})", "look-around"},
      {R"({"routes": [], "redirects": []})", "routes cannot be used with redirects"},
      {R"({"redirects": [{"source": "/a", "destination": "/b", "permanent": true, "statusCode": 301}]})",
       "permanent and statusCode cannot both be set"},
      {R"({"headers": [{"source": "no-slash", "headers": []}]})", "does not begin with /"},
  };
  int i = 0;
  for (auto& [config, why] : cases) {
    auto dir = f.dir.path() + "/bad" + std::to_string(i++);
    write_file(dir + "/vercel.json", config);
    write_file(dir + "/index.html", "x");
    auto r = ferry_cli({"deploy", dir, "--project", "vbad" + std::to_string(i)}, f.node.url,
                       f.node.token, f.home);
    INFO(config.substr(0, 200) << "\n" << r.err);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains(why));
  }
  // routes the router could not read whole would be dropped: refused
  auto big = f.dir.path() + "/big";
  write_file(big + "/.vercel/output/config.json",
             R"j({"version": 3, "routes": [{"src": "/(.*)", "headers": {"x-big": ")j" +
                 std::string(9 << 20, 'v') + R"j("}, "continue": true}]})j");
  write_file(big + "/.vercel/output/static/index.html", "x");
  auto r = ferry_cli({"deploy", big, "--project", "vbig"}, f.node.url, f.node.token, f.home);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("over the 8 MiB the router reads"));
}
