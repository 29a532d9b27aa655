// Point 10 of tenant isolation: protocol edges. Requests smuggled inside
// others (a Transfer-Encoding that is not exactly chunked, a second Host),
// control characters in file names (a forged log line), a tree too wide
// for a descriptor limit, and hosts nobody serves that would fill a cache.
#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace ferry::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// How many answers came back, and the first one's status line.
std::pair<int, std::string> answers(const std::string& text) {
  int n = 0;
  for (size_t at = text.find("HTTP/1.1 "); at != std::string::npos;
       at = text.find("HTTP/1.1 ", at + 1))
    ++n;
  return {n, text.substr(0, text.find("\r\n"))};
}

} // namespace

TEST_CASE("a request hidden in another's body is refused by the router and the API", "[security]") {
  tenant_cluster c;
  auto token = c.add_user("owner");
  write_file(c.dir / "site/index.html", "front\n");
  auto url = c.deploy_ok(c.dir / "site", "site", token);
  auto host = url.substr(7, url.rfind(':') - 7);
  const std::string hidden = "GET /smuggled HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  const std::vector<std::string> framings{
      "Transfer-Encoding: identity\r\n",
      "Transfer-Encoding: gzip\r\n",
      "Transfer-Encoding: chunked, gzip\r\n",
      "Transfer-Encoding: xchunked\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
      "Host: another.ferry.localhost\r\n", // a second Host
  };
  for (auto& f : framings) {
    INFO(f);
    for (auto& [server, target, auth] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {c.node->router_url, host, ""},
             {c.node->url, "x", "Authorization: Bearer " + token + "\r\n"}}) {
      auto request = "POST / HTTP/1.1\r\nHost: " + target + "\r\n" + auth + f + "\r\n" + hidden;
      auto [count, status] = answers(raw_exchange(server, request, true));
      CHECK(count == 1);
      CHECK(status == "HTTP/1.1 400 Bad Request");
    }
  }
  // a second Host in a chunked body's trailer: refused as one in the head
  for (auto& [server, target, auth] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {c.node->router_url, host, ""},
           {c.node->url, "x", "Authorization: Bearer " + token + "\r\n"}}) {
    auto request = "POST /v1/missing HTTP/1.1\r\nHost: " + target + "\r\n" + auth +
                   "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nHost: "
                   "another.ferry.localhost\r\n\r\n";
    auto [n, first] = answers(raw_exchange(server, request, true));
    CHECK(first.rfind("HTTP/1.1 ", 0) == 0);
    if (server == c.node->url) // (the router answers a static path before any body)
      CHECK(first == "HTTP/1.1 400 Bad Request");
  }
  // chunked, as it should be: served (a static file answers without reading
  // the body, and the connection ends: what follows is never read as a request)
  auto fine = "GET / HTTP/1.1\r\nHost: " + host +
              "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden;
  auto [count, status] = answers(raw_exchange(c.node->router_url, fine, true));
  CHECK(count == 1);
  CHECK(status == "HTTP/1.1 200 OK");
}

TEST_CASE("file names with control characters are refused everywhere", "[security]") {
  tenant_cluster c;
  auto token = c.add_user("owner");
  // by the CLI
  write_file(c.dir / "cr/index.html", "x");
  write_file(c.dir / "cr/forged\r{\"source\":\"router\"}.html", "x");
  auto r = c.deploy(c.dir / "cr", "cr", token);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("control character") != std::string::npos);
  // by the API
  auto api = c.node->api_as(
      token, "POST", "/v1/projects/cr/versions",
      json{{"files", {{{"path", "a\rb.html"}, {"hash", std::string(64, 'a')}, {"size", 1}}}}}
          .dump());
  CHECK(api.status == 400);
  CHECK(api_error(api).first == "bad_path");
  // in a build's output
  write_file(
      c.dir / "out/package.json",
      R"({"scripts": {"build": "mkdir -p dist && echo x > dist/index.html && echo y > \"dist/$(printf 'a\\033[2Jb').html\""}})");
  auto built = c.deploy(c.dir / "out", "out", token);
  CHECK(built.exit_code != 0);
  auto log = c.build_log("out", token);
  CHECK(log.find("control character") != std::string::npos);
}

TEST_CASE("a tree of 3000 sibling directories builds and serves under 1024 descriptors",
          "[security]") {
  raise_own_nofile();
  tenant_cluster c("", {}, {"/usr/bin/prlimit", "--nofile=1024:1024"});
  auto token = c.add_user("wide");
  auto p = c.dir / "wide";
  for (int i = 0; i < 3000; ++i)
    write_file(p + "/public/d" + std::to_string(i) + "/index.html", std::to_string(i) + "\n");
  auto url = c.deploy_ok(p, "wide", token);
  CHECK(fetch(url + "/d2999/").body == "2999\n");
  CHECK(fetch(url + "/d0/").body == "0\n");
}

TEST_CASE("hosts nobody serves leave nothing behind in the router", "[security]") {
  tenant_cluster c;
  std::string requests;
  for (int i = 0; i < 2000; ++i) {
    auto id = std::to_string(1000000000000 + i * 7919);
    std::string label(13, 'a');
    for (size_t k = 0; k < 13; ++k)
      label[k] = "abcdefghijklmnopqrstuvwxyz234567"[(id[k % id.size()] * 7 + k + i) % 32];
    requests +=
        "GET / HTTP/1.1\r\nHost: " + label + "-p" + std::to_string(i) + ".ferry.localhost\r\n\r\n";
  }
  auto [count, status] = answers(raw_exchange(c.node->router_url, requests, true, 60000));
  CHECK(count == 2000);
  CHECK(status == "HTTP/1.1 404 Not Found");
  auto rt = json::parse(c.node->api("GET", "/v1/admin/runtime").body);
  CHECK(rt["loads_pending"] == 0);
  CHECK(rt["deployments_loaded"] == 0);
}
