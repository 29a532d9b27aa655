// Garbage collection: the space of a removed version comes back on every
// storage node while another deploy uploads, and that deploy (which shares
// files with the removed version) still succeeds and reads back whole.
#include "tests/cluster/cluster.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <iostream>
#include <random>

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

uint64_t segment_bytes(const std::string& data_dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(data_dir + "/cas/segments", ec))
    n += e.file_size(ec);
  return n;
}

std::string noise(int seed, size_t n) {
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>('a' + rng() % 26);
  return s;
}

std::string id_of(const std::string& deploy_out) {
  auto url = deploy_out.substr(0, deploy_out.find('\n'));
  auto label = url.substr(url.find("://") + 3);
  return label.substr(0, label.find('-'));
}

} // namespace

TEST_CASE("GC reclaims a removed version's space while a deploy runs, and the deploy succeeds") {
  cluster c(3,
            "gc_grace_s = 5\nkeep_versions = 5\nfailure_timeout_ms = 1000\n"
            "repair_interval_s = 3600");
  tmpdir home;
  // version A: 40 files of 100 KB; B (later) shares 10 of them
  for (int i = 0; i < 40; ++i)
    write_file(c.dir / "a/public/f" + std::to_string(i) + ".txt", noise(i, 100 * 1000));
  auto a = c.deployed(c.dir / "a", {"--project", "old"}, home.path());
  auto a_id = id_of(a.out);
  auto rm = ferry_cli({"rm", a_id}, c.api().url, c.api().token, home.path());
  INFO(rm.err);
  REQUIRE(rm.exit_code == 0);
  std::this_thread::sleep_for(5500ms); // (A's uploads are older than the grace)

  uint64_t before = 0;
  for (auto& n : c.nodes)
    before += segment_bytes(n->data_dir);

  // B: 200 files of 20 KB, and 10 of A's files, deployed while the
  // collector runs again and again
  for (int i = 0; i < 200; ++i)
    write_file(c.dir / "b/public/g" + std::to_string(i) + ".txt", noise(1000 + i, 20 * 1000));
  for (int i = 0; i < 10; ++i)
    write_file(c.dir / "b/public/shared" + std::to_string(i) + ".txt", noise(i, 100 * 1000));
  auto t0 = std::chrono::steady_clock::now();
  auto b_run = std::async(std::launch::async, [&] {
    auto r = c.deploy(c.dir / "b", {"--project", "new", "--prod"}, home.path());
    return std::make_pair(r, ms_since(t0));
  });
  int collections = 0, overlapping = 0;
  uint64_t deleted = 0;
  int64_t b_ms = -1;
  while (true) {
    auto start = ms_since(t0);
    auto gc = c.api().api("POST", "/v1/admin/gc");
    REQUIRE(gc.status == 200);
    auto doc = json::parse(gc.body);
    INFO(gc.body);
    CHECK(doc["error"] == "");
    ++collections;
    for (auto& n : doc["nodes"])
      deleted += n["deleted"].get<uint64_t>();
    bool b_done = b_run.wait_for(0ms) == std::future_status::ready;
    if (!b_done || start < 100)
      ++overlapping; // (this collection ran while B was uploading)
    if (b_done)
      break;
  }
  auto [b, b_took] = b_run.get();
  b_ms = b_took;
  INFO(b.err);
  REQUIRE(b.exit_code == 0);

  // a last collection once B is done: only A's own blobs are gone
  auto last = c.api().api("POST", "/v1/admin/gc");
  REQUIRE(last.status == 200);
  auto doc = json::parse(last.body);
  INFO(last.body);
  CHECK(doc["error"] == "");
  CHECK(doc["skipped"].empty());
  CHECK(doc["nodes"].size() == 3);
  uint64_t after = 0;
  for (auto& n : c.nodes)
    after += segment_bytes(n->data_dir);

  // every file of B reads back through a router, A's shared ones included
  int right = 0, total = 0;
  auto router = c.nodes[2]->router_url;
  for (int i = 0; i < 200; i += 7) {
    ++total;
    auto r = http(
        "GET", "http://new.ferry.localhost" + port_of(router) + "/g" + std::to_string(i) + ".txt");
    right += r.status == 200 && r.body == noise(1000 + i, 20 * 1000);
  }
  for (int i = 0; i < 10; ++i) {
    ++total;
    auto r = http("GET", "http://new.ferry.localhost" + port_of(router) + "/shared" +
                             std::to_string(i) + ".txt");
    right += r.status == 200 && r.body == noise(i, 100 * 1000);
  }
  // and A is gone: its own files answer no more
  auto gone = http("GET", "http://" + a_id + "-old.ferry.localhost" + port_of(router) + "/f20.txt");

  // What is left is B: 5 MB of files, as source and as built output, two
  // copies each (20 MB); without the collector A's 16 MB would be there too
  const uint64_t b_live = 2 * 2 * (200 * 20 * 1000 + 10 * 100 * 1000);
  std::cout << "gc: " << collections << " collection(s) during B's deploy (" << overlapping
            << " while it uploaded, " << deleted << " blob(s) deleted), B deployed in " << b_ms
            << " ms and " << right << " of " << total << " files read back; segments of the 3 "
            << "nodes: " << (before >> 10) << " KiB with A alone, " << (after >> 10)
            << " KiB with B alone after (B's live data: " << (b_live >> 10) << " KiB)\n";
  CHECK(overlapping >= 1);
  CHECK(deleted > 0);
  CHECK(right == total);
  CHECK(gone.status == 404);
  // A's space came back: all of it from the segments that held A alone; a
  // segment that B's first blobs shared with A's last ones is compacted
  // only when less than half of it is live, so some of A may stay there
  CHECK(after < b_live + before / 2);
}
