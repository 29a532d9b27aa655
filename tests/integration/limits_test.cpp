// Every limit of the API has a test that fails if the limit is removed.
// (The 64 MiB body limit: api_test, "malformed and oversized requests".)
#include "storage/sha256.hpp"
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace ferry;
using namespace ferry::test;
using json = nlohmann::json;

TEST_CASE("one /v1/missing asks about at most 200000 hashes") {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path()};
  std::string refs(200001 * 33, '\0');
  auto r = node.api("POST", "/v1/missing", refs, "application/x-ferry-refs");
  CHECK(r.status == 413);
  CHECK(api_error(r).first == "too_large");
  refs.resize(1000 * 33);
  CHECK(node.api("POST", "/v1/missing", refs, "application/x-ferry-refs").status == 200);
}

TEST_CASE("connections beyond --max-connections get 503, and are served again once others leave") {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path(), {"--max-connections", "8"}};
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i)
    idle.push_back(connect_to(node.url));
  for (int fd : idle)
    REQUIRE(fd >= 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200)); // all accepted
  auto r = http("GET", node.url + "/healthz");
  CHECK(r.status == 503);
  CHECK(api_error(r).first == "unavailable");
  for (int fd : idle)
    close(fd);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline &&
         http("GET", node.url + "/healthz").status != 200)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(http("GET", node.url + "/healthz").status == 200);
}

TEST_CASE("a connection idle or stalled past --idle-timeout is closed") {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path(), {"--idle-timeout", "1"}};
  int quiet = connect_to(node.url);
  REQUIRE(quiet >= 0);
  CHECK_FALSE(closed_by_server(quiet, 300)); // not before its time
  CHECK(closed_by_server(quiet, 3000));
  close(quiet);
  // a request that stops halfway through its body (slowloris) is cut too
  int slow = connect_to(node.url);
  REQUIRE(slow >= 0);
  std::string head = "PUT /v1/blobs/source/" + sha256_hex("x") +
                     " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + node.token +
                     "\r\nContent-Length: 100\r\n\r\nabc";
  send(slow, head.data(), head.size(), MSG_NOSIGNAL);
  CHECK(closed_by_server(slow, 3000));
  close(slow);
  CHECK(http("GET", node.url + "/healthz").status == 200);
}

TEST_CASE("ferry deploy refuses a file over the 64 MiB blob limit before uploading anything") {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path()};
  write_file(dir / "tree/small.txt", "small and unique 98765");
  write_file(dir / "tree/huge.bin", "");
  REQUIRE(truncate((dir / "tree/huge.bin").c_str(), (64 << 20) + 1) == 0);
  tmpdir home;
  auto r =
      ferry_cli({"deploy", dir / "tree", "--project", "big"}, node.url, node.token, home.path());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("huge.bin") && Catch::Contains("64 MiB"));
  CHECK(node.api("GET", "/v1/projects/big").status == 404);
  auto missing = node.api("POST", "/v1/missing",
                          json{{"source", {sha256_hex("small and unique 98765")}}}.dump());
  CHECK(json::parse(missing.body)["source"].size() == 1);
}
