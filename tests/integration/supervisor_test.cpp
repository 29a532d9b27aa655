// The node supervisor restarts a killed actor while the node keeps serving,
// and ferryd shuts down cleanly on SIGTERM.
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <thread>

using namespace ferry::test;
using json = nlohmann::json;

namespace {
json actor(const ferryd_node& node, const std::string& name) {
  auto r = node.api("GET", "/v1/admin/actors");
  REQUIRE(r.status == 200);
  auto all = json::parse(r.body);
  for (auto& a : all["actors"])
    if (a["name"] == name)
      return a;
  FAIL("no actor " << name);
  return {};
}
} // namespace

TEST_CASE("a killed actor is restarted by its supervisor and the node keeps serving") {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path()};
  CHECK(actor(node, "cas")["restarts"] == 0);
  REQUIRE(node.api("POST", "/v1/admin/actors/cas/kill").status == 200);
  // meanwhile the node answers (health, and the registry through the API)
  CHECK(http("GET", node.url + "/healthz").status == 200);
  CHECK(node.api("GET", "/v1/projects").status == 200);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline && actor(node, "cas")["alive"] != true)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto cas = actor(node, "cas");
  CHECK(cas["alive"] == true);
  CHECK(cas["restarts"] == 1);
  // and the restarted store works
  auto r = node.api("POST", "/v1/missing", json{{"source", json::array()}}.dump());
  CHECK(r.status == 200);

  // The registry too: requests during its restart get 503, then work again.
  REQUIRE(node.api("POST", "/v1/admin/actors/registry/kill").status == 200);
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  long status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = node.api("GET", "/v1/projects").status;
    if (status == 200)
      break;
    CHECK(status == 503);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(status == 200);
  CHECK(actor(node, "registry")["restarts"] == 1);
  CHECK(node.api("POST", "/v1/admin/actors/nosuch/kill").status == 404);
}

TEST_CASE("SIGTERM shuts ferryd down cleanly and promptly") {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path()};
  auto start = std::chrono::steady_clock::now();
  CHECK(node.terminate(std::chrono::seconds(12)) == 0);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(11));
  // its data is intact for the next start: same admin token
  auto token = node.token;
  node.start();
  CHECK(node.token == token);
  CHECK(node.api("GET", "/v1/whoami").status == 200);
}

TEST_CASE("a second SIGTERM exits at once even while the first is still shutting down") {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path()};
  node.proc().signal(SIGTERM);
  node.proc().signal(SIGTERM);
  run_result r;
  REQUIRE(node.proc().wait(std::chrono::seconds(5), &r));
  CHECK((r.exit_code == 0 || r.exit_code == 130));
}

TEST_CASE("ferryd refuses bad options and configuration with a clear message") {
  tmpdir dir;
  auto r = run({FERRYD_BIN}, {}, dir.path());
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--data-dir"));
  write_file(dir / "bad.conf", "[node a]\nroles = api, dancing\napi = 127.0.0.1:0\n");
  r = run({FERRYD_BIN, "--data-dir", dir / "d", "--config", dir / "bad.conf"}, {}, dir.path());
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("line 2") && Catch::Contains("dancing"));
  r = run({FERRYD_BIN, "--help"}, {}, dir.path());
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("--listen"));
}
