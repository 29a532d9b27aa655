// Roles talk only through typed messages, so any role can live on another
// node: two ferryd processes on loopback, the storage role on the second,
// and a deploy (upload, build, serve) through the first, which keeps no blob.
#include "storage/sha256.hpp"
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ferry;
using namespace ferry::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool has_segments(const std::string& data_dir) {
  std::error_code ec;
  auto dir = data_dir + "/cas/segments";
  return fs::exists(dir, ec) && !fs::is_empty(dir, ec);
}

} // namespace

TEST_CASE("the storage role on a second node serves deploys through the first") {
  tmpdir dir;
  auto conf = dir / "cluster.conf";
  write_cluster_conf(
      conf, "[node a]\napi = 127.0.0.1:0\nactors = 127.0.0.1:" + std::to_string(free_port()) +
                "\nroles = api, build, deploy\nbuild_slots = 1\n"
                "[node b]\nactors = 127.0.0.1:" +
                std::to_string(free_port()) + "\nroles = storage\n");
  ferryd_node b{dir / "b", dir.path(), {"--config", conf, "--node", "b"}};
  CHECK(b.url.empty()); // no api role, no API
  ferryd_node a{dir / "a", dir.path(), {"--config", conf, "--node", "a"}};
  REQUIRE_FALSE(a.url.empty());

  // a knows that its storage lives on b
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  json cas;
  while (std::chrono::steady_clock::now() < deadline) {
    auto all = json::parse(a.api("GET", "/v1/admin/actors").body);
    for (auto& x : all["actors"])
      if (x["name"] == "store")
        cas = x;
    if (cas["alive"] == true)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(cas["node"] == "b");
  CHECK(cas["alive"] == true);

  for (int i = 0; i < 40; ++i)
    write_file(dir / "tree" + "/f" + std::to_string(i) + ".txt",
               std::string(static_cast<size_t>(i) * 20000, static_cast<char>('a' + i % 26)) +
                   std::to_string(i));
  tmpdir home;
  auto r = ferry_cli({"deploy", dir / "tree", "--project", "split", "--json"}, a.url, a.token,
                     home.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto v = json::parse(r.out);
  CHECK(v["state"] == "built");
  CHECK(v["files"] == 40);
  CHECK(v["upload"]["blobs_uploaded"] == 40);
  CHECK(has_segments(dir / "b")); // the bytes live on b
  CHECK_FALSE(has_segments(dir / "a"));
  auto files = a.api("GET", "/v1/versions/" + v["id"].get<std::string>() + "/files");
  REQUIRE(files.status == 200);
  CHECK(json::parse(files.body)["files"].size() == 40);

  // b dies: a answers 503 at once instead of hanging, and recovers with b.
  b.kill9();
  auto t0 = std::chrono::steady_clock::now();
  auto down = a.api("POST", "/v1/missing", json{{"source", {sha256_hex("x")}}}.dump());
  CHECK(down.status == 503);
  CHECK(api_error(down).first == "unavailable");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  CHECK(a.api("GET", "/v1/projects").status == 200); // the api role itself keeps serving
  b.start();
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  long status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = a.api("POST", "/v1/missing", json{{"source", {sha256_hex("x")}}}.dump()).status;
    if (status == 200)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(status == 200);
  auto again = ferry_cli({"deploy", dir / "tree", "--project", "split", "--json"}, a.url, a.token,
                         home.path());
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(json::parse(again.out)["upload"]["blobs_uploaded"] == 0);
}
