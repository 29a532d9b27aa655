// kill -9 of ferryd in the middle of uploads: whatever was acknowledged is
// there after a restart and verifies, and a redeploy uploads only the rest.
#include "storage/sha256.hpp"
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

using namespace ferry;
using namespace ferry::test;
using json = nlohmann::json;

namespace {

/// A tree of n files of random content (seeded), from 1 KB to 400 KB.
std::vector<std::pair<std::string, std::string>> make_tree(const std::string& root, int n,
                                                           int seed) {
  std::mt19937 rng(seed);
  std::vector<std::pair<std::string, std::string>> files;
  for (int i = 0; i < n; ++i) {
    std::string data(1024 + rng() % (400 * 1024), '\0');
    for (auto& c : data)
      c = static_cast<char>(rng());
    auto path = "d" + std::to_string(i % 10) + "/f" + std::to_string(i);
    write_file(root + "/" + path, data);
    files.emplace_back(path, data);
  }
  return files;
}

std::vector<std::string> hashes_of(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<std::string> out;
  for (auto& [path, data] : files)
    out.push_back(sha256_hex(data));
  return out;
}

size_t count_missing(const ferryd_node& node, const std::vector<std::string>& hashes) {
  auto r = node.api("POST", "/v1/missing", json{{"source", hashes}}.dump());
  REQUIRE(r.status == 200);
  return json::parse(r.body)["source"].size();
}

} // namespace

TEST_CASE("every blob acknowledged before kill -9 is there after a restart and verifies") {
  tmpdir dir;
  auto files = make_tree(dir / "tree", 160, 7);
  auto hashes = hashes_of(files);
  ferryd_node node{dir / "data", dir.path()};
  std::mutex mtx;
  std::vector<std::string> acked;
  std::atomic<size_t> next{0};
  auto url = node.url, token = node.token;
  auto uploader = [&] {
    for (size_t i; (i = next++) < files.size();) {
      auto r = http("PUT", url + "/v1/blobs/source/" + hashes[i], files[i].second, token,
                    "application/octet-stream");
      if (r.status == 201) {
        std::lock_guard<std::mutex> g{mtx};
        acked.push_back(hashes[i]);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back(uploader);
  while (true) {
    std::lock_guard<std::mutex> g{mtx};
    if (acked.size() >= 40)
      break;
  }
  node.kill9(); // uploads are still in flight
  for (auto& t : threads)
    t.join();
  INFO("acknowledged before the kill: " << acked.size());
  REQUIRE(acked.size() < files.size()); // the kill did land mid-upload

  node.start();
  for (auto& h : acked) {
    auto r = node.api("GET", "/v1/blobs/source/" + h);
    REQUIRE(r.status == 200);
    CHECK(sha256_hex(r.body) == h);
  }
  auto missing = count_missing(node, hashes);
  CHECK(missing <= files.size() - acked.size());

  tmpdir home;
  auto r = ferry_cli({"deploy", dir / "tree", "--project", "crash", "--json"}, node.url, node.token,
                     home.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto v = json::parse(r.out);
  CHECK(v["upload"]["blobs_uploaded"] == missing);
  CHECK(v["state"] == "built");
  CHECK(count_missing(node, hashes) == 0);
}

TEST_CASE("a deploy cut by kill -9 of ferryd resumes with only what is missing") {
  tmpdir dir;
  auto files = make_tree(dir / "tree", 200, 11);
  auto hashes = hashes_of(files);
  ferryd_node node{dir / "data", dir.path()};
  tmpdir home;
  process deploy({FERRY_BIN, "deploy", dir / "tree", "--project", "resume", "-j", "1"},
                 {{"FERRY_URL", node.url},
                  {"FERRY_TOKEN", node.token},
                  {"HOME", home.path()},
                  {"XDG_CACHE_HOME", home / "cache"}},
                 dir.path());
  // Kill once some, not all, blobs are stored.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (count_missing(node, hashes) > files.size() - 20 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  node.kill9();
  run_result cut;
  REQUIRE(deploy.wait(std::chrono::seconds(60), &cut));
  CHECK(cut.exit_code == 1); // the client reports the failure
  node.start();
  auto missing = count_missing(node, hashes);
  INFO("missing after the kill: " << missing);
  CHECK(missing > 0);
  CHECK(missing < files.size());
  auto r = ferry_cli({"deploy", dir / "tree", "--project", "resume", "--json"}, node.url,
                     node.token, home.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(json::parse(r.out)["upload"]["blobs_uploaded"] == missing);
}
