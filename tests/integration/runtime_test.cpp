// The runtime through real ferryd and ferry processes: a URL per
// deployment, promote and rollback under load, scale to zero, a crashing
// function, a function past its maxDuration, a memory hog, and secrets that
// reach only the function. (Its ferryd: runtime_fixture.hpp; functions as
// Vercel runs them: functions_test.cpp.)
#include "tests/integration/runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <sys/socket.h>
#include <unistd.h>

using namespace ferry::test;
using json = nlohmann::json;

namespace {

json get_json(const std::string& url) {
  auto r = http("GET", url);
  INFO(url << " -> " << r.status << " " << r.body << r.error);
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

} // namespace

TEST_CASE("every fixture deploy gets its own URL, and an older one keeps answering", "[runtime]") {
  runtime_fixture f;
  std::string fixtures = std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/";
  auto site = f.deploy(fixtures + "static-site", "site");
  REQUIRE(site.out.rfind("http://", 0) == 0);
  CHECK(site.out.find('\n') == std::string::npos); // the URL and nothing else
  auto page = http("GET", site.out + "/");
  CHECK(page.status == 200);
  CHECK(page.body == read_file(fixtures + "static-site/public/index.html"));
  auto css = http("GET", site.out + "/css/site.css");
  CHECK(css.body == read_file(fixtures + "static-site/public/css/site.css"));

  auto fn = f.deploy(fixtures + "node-fn", "fn");
  CHECK(get_json(fn.out + "/api/check?n=42") == json{{"n", "42"}, {"number", true}});
  auto ts = f.deploy(fixtures + "ts-fn", "ts");
  CHECK(get_json(ts.out + "/api/greet?name=ferry")["message"] == "hello, ferry");
  auto built = f.deploy(fixtures + "build-site", "docs");
  CHECK(http("GET", built.out + "/").status == 200);

  // a second deploy of changed source: a new URL, and the first still serves the old body
  auto a = f.deploy(f.functions_project("v1", "A"), "twice");
  write_file(f.dir / "v1/index.html", "<h1>B</h1>\n");
  auto b = f.deploy(f.dir / "v1", "twice");
  CHECK(a.out != b.out);
  CHECK(http("GET", a.out + "/").body == "<h1>A</h1>\n");
  CHECK(http("GET", b.out + "/").body == "<h1>B</h1>\n");
  CHECK(http("GET", f.node.router_url + "/").status == 404); // no deployment at a bare address
}

TEST_CASE("static files carry an ETag and answer If-None-Match with 304", "[runtime]") {
  runtime_fixture f;
  auto d = f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/static-site", "etag");
  auto head =
      run({"/usr/bin/curl", "-s", "-D", "-", "-o", "/dev/null", d.out + "/"}, {}, f.dir.path());
  auto at = head.out.find("ETag: ");
  REQUIRE(at != std::string::npos);
  auto etag = head.out.substr(at + 6, head.out.find('\r', at) - at - 6);
  auto again = run({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                    "If-None-Match: " + etag, d.out + "/"},
                   {}, f.dir.path());
  CHECK(again.out == "304");
  CHECK(head.out.find("Cache-Control: public, max-age=0, must-revalidate") != std::string::npos);
}

TEST_CASE("promote and rollback under load: no failed request, every answer old or new",
          "[runtime]") {
  runtime_fixture f;
  auto a = f.deploy(f.functions_project("pa", "A"), "swap", {"--prod"});
  auto b = f.deploy(f.functions_project("pb", "B"), "swap");
  auto prod = f.production("swap");
  CHECK(get_json(prod + "/api/info")["version"] == "A");
  auto id_of = [](const std::string& url) { return url.substr(7, 13); };
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, foreign{0};
  std::set<std::string> seen;
  std::mutex seen_mtx;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&] {
      while (!stop) {
        auto r = http("GET", prod + "/api/info");
        if (r.status != 200) {
          ++failed;
          continue;
        }
        auto v = json::parse(r.body, nullptr, false);
        auto version = v.is_object() ? v.value("version", "") : "";
        if (version != "A" && version != "B")
          ++foreign;
        std::lock_guard<std::mutex> g{seen_mtx};
        seen.insert(version);
        ++ok;
      }
    });
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto r = i % 2 == 0
                 ? ferry_cli({"promote", id_of(b.out)}, f.node.url, f.node.token, f.home)
                 : ferry_cli({"rollback", "--project", "swap"}, f.node.url, f.node.token, f.home);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    // once the command returns, production answers with the deployment it named
    CHECK(get_json(prod + "/api/info")["version"] == (i % 2 == 0 ? "B" : "A"));
  }
  stop = true;
  for (auto& t : clients)
    t.join();
  CHECK(failed == 0);
  CHECK(foreign == 0);
  CHECK(ok > 50);
  CHECK(seen == std::set<std::string>{"A", "B"});
}

TEST_CASE("scale to zero, crash, timeout and memory limit of functions", "[runtime]") {
  runtime_fixture f;
  auto url = f.deploy(f.functions_project("limits", "A"), "limits").out;

  SECTION("an instance stops when idle and the next request starts another") {
    auto first = get_json(url + "/api/info")["instance"];
    CHECK(get_json(url + "/api/info")["instance"] == first); // warm: the same instance
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool zero = false;
    while (!zero && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      auto status = json::parse(f.node.api("GET", "/v1/admin/runtime").body);
      zero = true;
      for (auto& fn : status["functions"])
        if (!fn["instances"].empty())
          zero = false;
    }
    CHECK(zero);
    auto next = get_json(url + "/api/info");
    CHECK(next["instance"] != first);
  }
  SECTION("a crashing function answers 500 and the next request works") {
    auto r = http("GET", url + "/api/crash");
    CHECK(r.status == 500);
    CHECK(r.body.find("FUNCTION_INVOCATION_FAILED") != std::string::npos);
    CHECK(http("GET", url + "/api/crash").status == 500); // restarted, crashes again
    CHECK(get_json(url + "/api/info")["version"] == "A");
  }
  SECTION("an endless loop is cut at maxDuration with a 504") {
    auto t0 = std::chrono::steady_clock::now();
    auto r = http("GET", url + "/api/loop");
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(r.status == 504);
    CHECK(took >= std::chrono::milliseconds(900));
    CHECK(took < std::chrono::seconds(4));
    CHECK(get_json(url + "/api/info")["version"] == "A");
    auto logs =
        ferry_cli({"logs", url.substr(7, 13), "--runtime"}, f.node.url, f.node.token, f.home);
    CHECK(logs.out.find("maxDuration") != std::string::npos);
  }
  SECTION("a memory hog is stopped at its limit") {
    auto r = http("GET", url + "/api/hog");
    CHECK(r.status == 500);
    CHECK(r.body.find("FUNCTION_INVOCATION_FAILED") != std::string::npos);
    auto id_at = r.body.find("request id: ");
    REQUIRE(id_at != std::string::npos);
    auto id = r.body.substr(id_at + 12, 16);
    CHECK(get_json(url + "/api/info")["version"] == "A");
    // why, for the owner: in the runtime log, under the request's id
    auto logs = ferry_cli({"logs", url.substr(7, 13), "--runtime", "--json"}, f.node.url,
                          f.node.token, f.home);
    std::istringstream lines(logs.out);
    bool found = false;
    for (std::string line; std::getline(lines, line);)
      found = found || (line.find(id) != std::string::npos &&
                        line.find("out of memory") != std::string::npos);
    INFO(logs.out);
    CHECK(found);
  }
}

TEST_CASE("a secret reaches the function and no build, artifact or log", "[runtime]") {
  runtime_fixture f;
  const std::string secret = "s3cr3t-7f1e9a2b";
  auto add =
      ferry_cli({"env", "add", "SECRET_TOKEN", "--project", "sec", "--environment", "preview"},
                f.node.url, f.node.token, f.home, secret + "\n");
  INFO(add.err);
  REQUIRE(add.exit_code == 0);
  auto ls =
      ferry_cli({"env", "ls", "--project", "sec", "--json"}, f.node.url, f.node.token, f.home);
  CHECK(ls.out.find("SECRET_TOKEN") != std::string::npos);
  CHECK(ls.out.find(secret) == std::string::npos);

  // a build that prints its whole environment into its log and its output
  auto b = f.dir / "envbuild";
  write_file(b + "/package.json",
             R"({"scripts": {"build": "mkdir -p dist && env | tee dist/env.txt"}})");
  auto built = f.deploy(b, "sec");
  auto env_txt = http("GET", built.out + "/env.txt");
  REQUIRE(env_txt.status == 200);
  CHECK(env_txt.body.find("PATH=") != std::string::npos); // it did print the environment
  CHECK(env_txt.body.find(secret) == std::string::npos);
  auto id = built.out.substr(7, 13);
  auto log = ferry_cli({"logs", id}, f.node.url, f.node.token, f.home);
  CHECK(log.out.find("PATH=") != std::string::npos);
  CHECK(log.out.find(secret) == std::string::npos);

  // the function reads it (and logs it, which the runtime log hides)
  auto fn = f.deploy(f.functions_project("secfn", "A"), "sec");
  CHECK(get_json(fn.out + "/api/info")["secret"] == secret);
  auto artifact = ferry_cli({"download", fn.out.substr(7, 13), "-o", f.dir / "a.tar"}, f.node.url,
                            f.node.token, f.home);
  CHECK(artifact.exit_code == 0);
  CHECK(read_file(f.dir / "a.tar").find(secret) == std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(400)); // the log hub flushes
  auto rt =
      ferry_cli({"logs", fn.out.substr(7, 13), "--runtime"}, f.node.url, f.node.token, f.home);
  CHECK(rt.out.find("serving with secret [secret]") != std::string::npos);
  CHECK(rt.out.find(secret) == std::string::npos);
  // and nothing on disk holds it in the clear
  auto grep = run({"/usr/bin/grep", "-rl", secret, f.dir / "d"}, {}, f.dir.path());
  CHECK(grep.out.empty());
  // a production deployment does not get the preview value
  auto prod = f.deploy(f.dir / "secfn", "sec", {"--prod"});
  CHECK(get_json(f.production("sec") + "/api/info")["secret"].is_null());
}

TEST_CASE("aliases: set, serve, refuse a taken host, remove, and rm refuses a served deployment",
          "[runtime]") {
  runtime_fixture f;
  auto a = f.deploy(f.functions_project("al", "A"), "al", {"--prod"});
  auto id = a.out.substr(7, 13);
  auto set = ferry_cli({"alias", "set", id, "www"}, f.node.url, f.node.token, f.home);
  INFO(set.err);
  REQUIRE(set.exit_code == 0); // a bare name is one below the project's production host
  CHECK(set.out == "http://www.al.ferry.localhost" + f.router_port() + "\n");
  CHECK(http("GET", "http://www.al.ferry.localhost" + f.router_port() + "/").body ==
        "<h1>A</h1>\n");
  f.deploy(f.functions_project("other", "O"), "other");
  auto taken =
      ferry_cli({"alias", "set", id, "other.ferry.localhost"}, f.node.url, f.node.token, f.home);
  CHECK(taken.exit_code == 1); // the production host of another project
  auto rm = ferry_cli({"rm", id}, f.node.url, f.node.token, f.home);
  CHECK(rm.exit_code == 1);
  CHECK(rm.err.find("served at") != std::string::npos);
  CHECK(ferry_cli({"alias", "rm", "www.al.ferry.localhost"}, f.node.url, f.node.token, f.home)
            .exit_code == 0);
  CHECK(http("GET", "http://www.al.ferry.localhost" + f.router_port() + "/").status == 404);
  auto b = f.deploy(f.dir / "al", "al");
  auto bid = b.out.substr(7, 13);
  CHECK(ferry_cli({"rm", bid}, f.node.url, f.node.token, f.home).exit_code == 0);
  CHECK(http("GET", b.out + "/").status == 404);
}

TEST_CASE("router limits: request and response size, malformed requests", "[runtime]") {
  runtime_fixture f;
  auto p = f.dir / "sizes";
  write_file(p + "/api/echo.js",
             "module.exports = (req, res) => res.end(String(req.body ? req.body.length : 0));\n");
  write_file(p + "/api/big.js", R"(
module.exports = (req, res) => {
  const mb = Number(req.query.mb || 40);
  res.setHeader('content-type', 'application/octet-stream');
  res.end(Buffer.alloc(mb << 20, 120));
};)");
  auto url = f.deploy(p, "sizes").out;
  std::string body(1 << 20, 'x');
  auto small = http("POST", url + "/api/echo", body, "", "application/octet-stream");
  CHECK(small.status == 200);
  CHECK(small.body == std::to_string(1 << 20));
  body.resize((16 << 20) + 1); // one byte over the router's 16 MiB
  auto big = http("POST", url + "/api/echo", body, "", "application/octet-stream");
  CHECK(big.status == 413);
  CHECK(big.body.find("REQUEST_TOO_LARGE") != std::string::npos);

  auto fine = http("GET", url + "/api/big?mb=8");
  CHECK(fine.status == 200);
  CHECK(fine.body.size() == size_t{8} << 20);
  auto over = http("GET", url + "/api/big"); // 40 MiB, over the 32 MiB a function may answer
  CHECK(over.status == 502);
  CHECK(over.body.find("FUNCTION_RESPONSE_TOO_LARGE") != std::string::npos);
  CHECK(http("GET", url + "/api/echo").status == 200); // the instance still serves

  auto t0 = std::chrono::steady_clock::now(); // HEAD of a function: no body to wait for
  auto head =
      run({"/usr/bin/curl", "-s", "-I", "-m", "5", url + "/api/big?mb=1"}, {}, f.dir.path());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(head.out.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head.out.find("Content-Length: 0") == std::string::npos); // node gives none for HEAD

  auto garbage = raw_exchange(f.node.router_url, "NOT HTTP AT ALL\r\n\r\n", false);
  CHECK(garbage.rfind("HTTP/1.1 400", 0) == 0);
  auto no_host = raw_exchange(f.node.router_url, "GET / HTTP/1.1\r\n\r\n", false);
  CHECK(no_host.rfind("HTTP/1.1 400", 0) == 0);
  auto bad_path = raw_exchange(f.node.router_url,
                               "GET /%zz HTTP/1.1\r\nHost: " + url.substr(7) + "\r\n\r\n", false);
  CHECK(bad_path.rfind("HTTP/1.1 400", 0) == 0);
}

TEST_CASE("router limits: --router-max-connections and --idle-timeout", "[runtime]") {
  runtime_fixture f{{"--router-max-connections", "4", "--idle-timeout", "1"}};
  auto router = f.node.router_url;
  auto status = [&] { return http("GET", router + "/").status; };
  REQUIRE(status() == 404); // served: no deployment at a bare address
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(connect_to(router));
    REQUIRE(held.back() >= 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200)); // all accepted
  auto busy = http("GET", router + "/");
  CHECK(busy.status == 503);
  CHECK(busy.body.find("TOO_MANY_CONNECTIONS") != std::string::npos);
  // held connections say nothing: cut after the idle timeout, not before
  CHECK_FALSE(closed_by_server(held[0], 300));
  for (int fd : held) {
    CHECK(closed_by_server(fd, 3000));
    close(fd);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline && status() != 404)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(status() == 404);
  // a request stalled halfway through its headers is cut too
  int slow = connect_to(router);
  REQUIRE(slow >= 0);
  std::string part = "GET / HTTP/1.1\r\nHost: x";
  send(slow, part.data(), part.size(), MSG_NOSIGNAL);
  CHECK(closed_by_server(slow, 3000));
  close(slow);
}

TEST_CASE("router: Expect, interim answers, odd methods and bytes, long paths and headers",
          "[runtime]") {
  runtime_fixture f{{"--max-instances", "1"}};
  auto p = f.dir / "edges";
  write_file(p + "/api/echo.js",
             "module.exports = (req, res) => res.end(String(req.body ? req.body.length : 0));\n");
  write_file(p + "/api/hints.js", R"(
module.exports = (req, res) => {
  res.writeEarlyHints({link: '</style.css>; rel=preload'});
  setTimeout(() => res.end('after hints'), 20);
};)");
  write_file(p + "/api/headers.js", "module.exports = (req, res) => res.json(req.headers);\n");
  auto url = f.deploy(p, "edges").out;
  auto host = url.substr(7);

  // what reaches the function: not the hop-by-hop headers (nor those
  // Connection names), not forged forwarding headers
  auto seen = run({"/usr/bin/curl", "-s", "-m", "10", "-H", "Connection: keep-alive, X-Hop", "-H",
                   "X-Hop: 1", "-H", "Forwarded: for=6.6.6.6", "-H", "X-Forwarded-For: 6.6.6.6",
                   "-H", "X-Real-IP: 6.6.6.6", url + "/api/headers"},
                  {}, f.dir.path());
  auto headers = json::parse(seen.out, nullptr, false);
  REQUIRE(headers.is_object());
  CHECK_FALSE(headers.contains("x-hop"));
  CHECK_FALSE(headers.contains("forwarded"));
  CHECK_FALSE(headers.contains("x-real-ip"));
  CHECK(headers.value("x-forwarded-for", "") == "127.0.0.1");
  CHECK(headers.value("x-ferry-deployment", "") == url.substr(7, 13));

  // curl sends Expect: 100-continue for a large body; the router says 100 itself
  write_file(f.dir / "body.bin", std::string(2 << 20, 'b'));
  auto t0 = std::chrono::steady_clock::now();
  auto posted = run({"/usr/bin/curl", "-s", "-m", "10", "-H", "Expect: 100-continue", "-H",
                     "Content-Type: application/octet-stream", "--data-binary",
                     "@" + f.dir / "body.bin", url + "/api/echo"},
                    {}, f.dir.path());
  CHECK(posted.out == std::to_string(2 << 20));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(900)); // no 1 s stall

  // an interim 103 from the function is not taken for its answer, and the
  // connection stays in step (two requests on one connection)
  auto two = run({"/usr/bin/curl", "-s", "-m", "10", url + "/api/hints", url + "/api/echo"}, {},
                 f.dir.path());
  CHECK(two.out == "after hints0");

  // a request that cannot be forwarded (TRACE with a body) gets 400 and gives
  // its instance back: more of them than one instance takes at once (64),
  // then the function still answers at once
  for (int i = 0; i < 70; ++i) {
    auto r = raw_exchange(f.node.router_url,
                          "TRACE /api/echo HTTP/1.1\r\nHost: " + host +
                              "\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
                          false);
    REQUIRE(r.rfind("HTTP/1.1 400", 0) == 0);
  }
  t0 = std::chrono::steady_clock::now();
  CHECK(http("GET", url + "/api/echo").status == 200);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));

  // bytes that are not ASCII in a request target are refused, and logged
  // with U+FFFD for those that are not UTF-8: the log stays readable
  auto odd = raw_exchange(
      f.node.router_url,
      "GET /api/echo?\xff\xfe HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n", false);
  CHECK(odd.rfind("HTTP/1.1 400", 0) == 0);
  auto logs = ferry_cli({"logs", url.substr(7, 13), "--runtime"}, f.node.url, f.node.token, f.home);
  CHECK(logs.exit_code == 0);
  CHECK(logs.out.find("/api/echo?\xef\xbf\xbd\xef\xbf\xbd") != std::string::npos);

  // a path over 8 KiB gets 414, a header over 32 KiB 431
  auto long_path = raw_exchange(f.node.router_url,
                                "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: " + host +
                                    "\r\nConnection: close\r\n\r\n",
                                false);
  CHECK(long_path.rfind("HTTP/1.1 414", 0) == 0);
  auto big_header = raw_exchange(
      f.node.router_url,
      "GET / HTTP/1.1\r\nHost: " + host + "\r\nX-Big: " + std::string(40000, 'h') + "\r\n\r\n",
      false);
  CHECK(big_header.rfind("HTTP/1.1 431", 0) == 0);
}

namespace {

/// Resident memory of a process, in KiB.
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

} // namespace

TEST_CASE("a large static file is streamed: right bytes, small memory per download", "[runtime]") {
  runtime_fixture f;
  auto p = f.dir / "large";
  std::string big(24 << 20, '\0');
  uint64_t x = 88172645463325252ULL; // xorshift: bytes that do not compress or repeat
  for (auto& c : big) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  write_file(p + "/public/big.bin", big);
  write_file(p + "/public/index.html", "<h1>large</h1>\n");
  auto url = f.deploy(p, "large").out;
  auto got = run({"/usr/bin/curl", "-s", "-m", "30", "-o", f.dir / "got.bin", url + "/big.bin"}, {},
                 f.dir.path());
  REQUIRE(got.exit_code == 0);
  CHECK(read_file(f.dir / "got.bin") == big);
  auto head = run({"/usr/bin/curl", "-s", "-I", "-m", "5", url + "/big.bin"}, {}, f.dir.path());
  CHECK(head.out.find("Content-Length: " + std::to_string(big.size())) != std::string::npos);

  // eight downloads whose readers stall: the router holds a piece of each,
  // not the whole file (8 x 24 MiB read whole would be 192 MiB)
  auto pid = f.node.proc().pid();
  auto before = rss_kib(pid);
  std::vector<int> stalled;
  for (int i = 0; i < 8; ++i) {
    int fd = connect_to(f.node.router_url);
    REQUIRE(fd >= 0);
    std::string get = "GET /big.bin HTTP/1.1\r\nHost: " + url.substr(7) + "\r\n\r\n";
    send(fd, get.data(), get.size(), MSG_NOSIGNAL);
    stalled.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  auto during = rss_kib(pid);
  INFO("ferryd RSS before " << before << " KiB, with 8 stalled downloads " << during << " KiB");
  CHECK(during - before < 48 * 1024);
  for (int fd : stalled)
    close(fd);
  CHECK(http("GET", url + "/").body == "<h1>large</h1>\n"); // still serving
}

TEST_CASE("after kill -9 of ferryd, deployments, aliases and secrets serve again", "[runtime]") {
  runtime_fixture f;
  auto add =
      ferry_cli({"env", "add", "SECRET_TOKEN", "--project", "live", "--environment", "production"},
                f.node.url, f.node.token, f.home, "kept-across-restarts\n");
  REQUIRE(add.exit_code == 0);
  auto a = f.deploy(f.functions_project("la", "A"), "live", {"--prod"});
  auto b = f.deploy(f.functions_project("lb", "B"), "live");
  REQUIRE(ferry_cli({"domain", "add", "edge.example", "--project", "live"}, f.node.url,
                    f.node.token, f.home)
              .exit_code == 0);
  auto alias = ferry_cli({"alias", "set", b.out.substr(7, 13), "edge.example"}, f.node.url,
                         f.node.token, f.home);
  REQUIRE(alias.exit_code == 0);
  REQUIRE(get_json(f.production("live") + "/api/info")["version"] == "A");

  f.node.kill9(); // instances die with it (die-with-parent)
  f.node.start();
  // the router may listen on another port now: the same hosts on it
  auto port = f.router_port();
  auto on_router = [&](const std::string& url) {
    auto host = url.substr(7, url.rfind(':') - 7);
    return "http://" + host + port;
  };
  auto prod = get_json(f.production("live") + "/api/info");
  CHECK(prod["version"] == "A");
  CHECK(prod["secret"] == "kept-across-restarts");
  CHECK(get_json(on_router(b.out) + "/api/info")["version"] == "B");
  CHECK(http("GET", on_router(a.out) + "/").body == "<h1>A</h1>\n");
  auto edge = run({"/usr/bin/curl", "-s", "-m", "10", "-H", "Host: edge.example",
                   f.node.router_url + "/api/info"},
                  {}, f.dir.path());
  CHECK(edge.out.find("\"version\":\"B\"") != std::string::npos);
  // and the history survives: rollback after promote goes back to A
  REQUIRE(ferry_cli({"promote", b.out.substr(7, 13)}, f.node.url, f.node.token, f.home).exit_code ==
          0);
  CHECK(get_json(f.production("live") + "/api/info")["version"] == "B");
  REQUIRE(
      ferry_cli({"rollback", "--project", "live"}, f.node.url, f.node.token, f.home).exit_code ==
      0);
  CHECK(get_json(f.production("live") + "/api/info")["version"] == "A");
}

TEST_CASE("requests over an instance's room wait for it, without a thread each", "[runtime]") {
  runtime_fixture f{{"--max-instances", "1"}}; // one instance, 64 requests at once
  auto p = f.dir / "slow";
  write_file(p + "/api/slow.js",
             "module.exports = (req, res) => setTimeout(() => res.end('done'), 300);\n");
  auto url = f.deploy(p, "slow").out;
  REQUIRE(http("GET", url + "/api/slow").body == "done"); // started
  auto threads = [&] {
    return std::distance(std::filesystem::directory_iterator(
                             "/proc/" + std::to_string(f.node.proc().pid()) + "/task"),
                         std::filesystem::directory_iterator{});
  };
  auto base = threads();
  std::atomic<int> ok{0};
  std::atomic<long> peak{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 200; ++i)
    clients.emplace_back([&] {
      if (http("GET", url + "/api/slow").body == "done")
        ++ok;
    });
  for (int k = 0; k < 10; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    peak = std::max<long>(peak, threads());
  }
  for (auto& c : clients)
    c.join();
  CHECK(ok == 200); // 64 at a time, the rest waited for room
  INFO("ferryd threads: " << base << " before, " << peak << " at most during 200 requests");
  CHECK(peak - base < 20);
}

TEST_CASE("a project's 404.html answers what is not there, with status 404", "[runtime]") {
  runtime_fixture f;
  auto p = f.dir / "site404";
  write_file(p + "/public/index.html", "home");
  write_file(p + "/public/404.html", "<h1>Lost? Try the home page.</h1>");
  auto d = f.deploy(p, "site404");
  auto missing = http("GET", d.out + "/no/such/page");
  CHECK(missing.status == 404);
  CHECK(missing.body == "<h1>Lost? Try the home page.</h1>");
  auto curl = run({"/usr/bin/curl", "-s", "-D", "-", "-o", "/dev/null", "-H", "If-None-Match: *",
                   d.out + "/no/such/page"},
                  {}, f.dir.path());
  CHECK(curl.out.rfind("HTTP/1.1 404", 0) == 0); // never a 304 for a page that is not there
  CHECK(curl.out.find("ETag") == std::string::npos);
  CHECK(http("GET", d.out + "/").body == "home");
  CHECK(http("POST", d.out + "/no/such/page").body.find("Lost?") == std::string::npos);
  // without one, ferry's own page
  auto q = f.dir / "plain";
  write_file(q + "/public/index.html", "home");
  auto plain = f.deploy(q, "plain");
  auto none = http("GET", plain.out + "/nothing");
  CHECK(none.status == 404);
  CHECK_THAT(none.body, Catch::Contains("NOT_FOUND"));
}
