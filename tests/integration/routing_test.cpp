// vercel.json's routing and a prebuilt output's routes, through real ferryd
// and ferry processes: redirects, headers, rewrites, cleanUrls and
// trailingSlash, compiled by the builder into config.json routes and run by
// the router.
#include "tests/integration/runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

using namespace ferry::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

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

TEST_CASE(
    "a prebuilt output's prerender functions: the fallback first and the stale answer while "
    "a new one is made - kept by allowQuery - revalidated and bypassed with the token",
    "[runtime]") {
  runtime_fixture f;
  auto d = f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/prerender", "isr");
  CHECK_THAT(d.err, Catch::Contains("blog/post is a prerender function: its answers kept 2 s, "
                                    "post.prerender-fallback.html served first"));
  const std::string token = "7f3c9a1e5b2d4f6a8c0e1b3d5f7a9c2e";
  auto at = [&](const std::string& path) { return d.out + path; };
  auto cache = [](const answer& a) {
    auto it = a.headers.find("x-ferry-cache");
    return it == a.headers.end() ? std::string("none") : it->second;
  };

  // the build's fallback, until it expires (2 s after the router loaded the deployment)
  auto first = fetch(at("/blog/one"));
  CHECK(first.status == 200);
  CHECK(first.body == "<p>fallback page</p>\n");
  CHECK(cache(first) == "PRERENDER");
  std::this_thread::sleep_for(std::chrono::milliseconds(2300));
  // expired: the stale page at once, and one new answer made in the background
  auto stale = fetch(at("/blog/one"));
  CHECK(stale.body == "<p>fallback page</p>\n");
  CHECK(cache(stale) == "STALE");
  answer made;
  for (int i = 0; i < 100; ++i) {
    made = fetch(at("/blog/one"));
    if (cache(made) == "HIT")
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(made.body);
  REQUIRE(cache(made) == "HIT");
  CHECK_THAT(made.body, Catch::StartsWith("<h1>one</h1> made "));
  // the function got the route's match, no query (no passQuery) and no
  // cookie; its Set-Cookie is nobody else's
  CHECK_THAT(made.body, Catch::EndsWith("url /blog/post cookie no")); // (its own path)
  CHECK(made.headers.count("set-cookie") == 0);
  // kept: the same answer again, whatever else the query or the client says
  auto again = fetch(at("/blog/one?utm_source=mail"), {"-H", "Cookie: session=abc"});
  CHECK(again.body == made.body);
  CHECK(cache(again) == "HIT");
  // another slug (allowQuery) is another page
  CHECK(fetch(at("/blog/two")).body == "<p>fallback page</p>\n");
  // a wrong token changes nothing; the token revalidates at once
  CHECK(fetch(at("/blog/one"), {"-H", "x-prerender-revalidate: " + std::string(32, 'x')}).body ==
        made.body);
  auto fresh = fetch(at("/blog/one"), {"-H", "x-prerender-revalidate: " + token});
  CHECK(cache(fresh) == "REVALIDATED");
  CHECK_THAT(fresh.body, Catch::StartsWith("<h1>one</h1> made "));
  CHECK(fresh.body != made.body);
  CHECK(fetch(at("/blog/one")).body == fresh.body);
  // draft mode: the function answers this very request, and nothing is kept
  auto draft = fetch(at("/blog/one"), {"-H", "Cookie: __prerender_bypass=" + token});
  CHECK(cache(draft) == "BYPASS");
  CHECK_THAT(draft.body, Catch::EndsWith("cookie yes"));
  CHECK(fetch(at("/blog/one")).body == fresh.body);
  // HEAD is answered from what is kept
  auto head = run({"/usr/bin/curl", "-s", "-I", "-m", "10", at("/blog/one")}, {}, "/tmp");
  CHECK_THAT(head.out, Catch::Contains("x-ferry-cache: HIT"));

  // without a fallback: the first request waits for the function; with
  // "expiration": false the answer stays until revalidated
  auto clock = fetch(at("/clock"));
  CHECK(cache(clock) == "MISS");
  CHECK_THAT(clock.body, Catch::StartsWith("clock "));
  std::this_thread::sleep_for(std::chrono::milliseconds(2300));
  auto later = fetch(at("/clock"));
  CHECK(cache(later) == "HIT");
  CHECK(later.body == clock.body);

  // passQuery: the function gets the kept parameters only (others would
  // make one visitor's page everybody's), the deployment's host whatever
  // the client wrote, and nobody's address
  auto echo = fetch(at("/echo?id=1&evil=%3Cscript%3E"));
  CHECK(cache(echo) == "MISS");
  auto host = d.out.substr(7, d.out.rfind(':') - 7);
  CHECK(echo.body == "echo /echo?id=1 host " + host + " for nobody");
  CHECK(fetch(at("/echo?id=1")).body == echo.body);
  // a Host whose port is not a port names no deployment
  CHECK(fetch("http://127.0.0.1" + f.router_port() + "/echo?id=2",
              {"-H", "Host: " + host + ":1@evil.example"})
            .status == 400);

  // a user's answers are kept up to 16 MiB (a quarter of the node's 64):
  // the fourth of 5 MiB pushes its least used out
  auto big = [&](int n) { return fetch(at("/big?page=" + std::to_string(n))); };
  auto page0 = big(0);
  CHECK(cache(page0) == "MISS");
  CHECK(cache(big(0)) == "HIT");
  CHECK(big(0).body == page0.body);
  for (int n = 1; n < 4; ++n)
    CHECK(cache(big(n)) == "MISS");
  auto gone = big(0);
  CHECK(cache(gone) == "MISS");
  CHECK(gone.body != page0.body);
  CHECK(cache(big(3)) == "HIT");
}

TEST_CASE("a prerender function's malformed config fails the build and says what", "[runtime]") {
  runtime_fixture f;
  auto p = f.dir / "bad-prerender";
  fs::copy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/prerender", p,
           fs::copy_options::recursive);
  write_file(p + "/.vercel/output/functions/blog/post.prerender-config.json",
             R"({"expiration": 2, "bypassToken": "short"})");
  auto r = ferry_cli({"deploy", p, "--project", "badisr"}, f.node.url, f.node.token, f.home);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("post.prerender-config.json: \"bypassToken\" is a string of "
                                    "at least 32 characters"));
  write_file(p + "/.vercel/output/functions/blog/post.prerender-config.json",
             R"({"expiration": 2, "fallback": "../../config.json"})");
  r = ferry_cli({"deploy", p, "--project", "badisr"}, f.node.url, f.node.token, f.home);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err,
             Catch::Contains("its fallback \"../../config.json\" is outside functions/blog"));
  write_file(p + "/.vercel/output/functions/blog/post.prerender-config.json",
             R"({"expiration": 2, "fallback": "post.prerender-fallback.html"})");
  write_file(p + "/.vercel/output/functions/blog/post.prerender-fallback.html",
             std::string((8 << 20) + 1, 'x'));
  r = ferry_cli({"deploy", p, "--project", "badisr"}, f.node.url, f.node.token, f.home);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("its fallback \"post.prerender-fallback.html\" is over 8 MiB"));
}

TEST_CASE(
    "Routing Middleware (middleware.js with @vercel/functions): it answers - rewrites - "
    "redirects - sets headers - or lets the request go on - on its matcher's paths",
    "[runtime]") {
  runtime_fixture f;
  auto d = f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/routing-middleware", "mw");
  CHECK_THAT(d.err, Catch::Contains("ferry: middleware: middleware.js runs before the routes on "
                                    "[\"/((?!api|other|blog).*)\",\"/api/:path*\"]"));
  auto at = [&](const std::string& path) { return d.out + path; };
  // next() with headers: the request goes on, and the answer has them
  auto home = fetch(at("/"));
  CHECK(home.status == 200);
  CHECK(home.body == "<p>middleware home</p>\n");
  CHECK(home.headers["x-mw"] == "ran");
  // nothing returned: the request goes on
  auto quiet = fetch(at("/quiet"));
  CHECK(quiet.body == "<p>quiet</p>\n");
  CHECK(quiet.headers.count("x-mw") == 0);
  // its own answer
  auto locked = fetch(at("/secret/page.html"));
  CHECK(locked.status == 401);
  CHECK(locked.body == "middleware: unauthorized");
  CHECK(locked.headers["www-authenticate"] == "Bearer");
  // it judges the path that is served: however the client encodes it
  CHECK(fetch(at("/%73ecret/page.html")).status == 401);
  CHECK(fetch(at("/sec%72et/page")).status == 401);
  // next() with headers: the page, and the headers
  auto open = fetch(at("/secret/page.html"), {"-H", "Authorization: Bearer letmein"});
  CHECK(open.status == 200);
  CHECK(open.body == "<p>the secret page</p>\n");
  CHECK(open.headers["x-secret"] == "seen");
  CHECK(open.headers.count("x-middleware-next") == 0);
  // rewrite(): another path of the deployment
  auto post = fetch(at("/old-blog/first"));
  CHECK(post.status == 200);
  CHECK(post.body == "<p>first post</p>\n");
  // a redirect
  auto hello = fetch(at("/hello"));
  CHECK(hello.status == 307);
  CHECK_THAT(hello.headers["location"], Catch::EndsWith("/"));
  // next({request: {headers}}): the function gets the headers it set, not
  // those it deleted
  auto echo = fetch(at("/api/echo"), {"-H", "x-drop-me: 1", "-H", "x-keep-me: 2"});
  INFO(echo.body);
  REQUIRE(echo.status == 200);
  auto j = json::parse(echo.body);
  CHECK(j["fromMiddleware"] == "yes");
  CHECK(j["dropMe"].is_null());
  CHECK(j["keepMe"] == "2");
  // its cookie joins the function's
  auto raw = run({"/usr/bin/curl", "-s", "-i", "-m", "10", at("/api/echo")}, {}, "/tmp").out;
  CHECK_THAT(raw, Catch::Contains("set-cookie: mw=1; Path=/") && Catch::Contains("fn=1; Path=/"));
  // the middleware function is at no path of its own
  CHECK(fetch(at("/_middleware")).status == 404);
  CHECK(fetch(at("/_middleware/")).status == 404);
  // outside its matchers (the look-ahead's alternatives) it does not run;
  // its source is never served
  auto other = fetch(at("/other.html"));
  CHECK(other.body == "<p>not matched</p>\n");
  CHECK(other.headers.count("x-mw") == 0);
  CHECK(fetch(at("/blog/first.html")).headers.count("x-mw") == 0);
  CHECK(fetch(at("/apiary")).headers.count("x-mw") == 0);     // (it begins with "api")
  CHECK(fetch(at("/nothing-here")).headers["x-mw"] == "ran"); // (a 404 it ran on)
  CHECK(fetch(at("/middleware.js")).status == 404);
}
