// The repairer: a storage node that comes back with an empty disk gets
// every blob it should hold again, copied by its peers at the configured
// rate, with the progress visible at GET /v1/admin/repair.
#include "storage/blob_store.hpp"
#include "tests/cluster/cluster.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <iostream>
#include <set>

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

/// Every blob a (stopped) node's replica holds, as "ns:hash".
std::set<std::string> blobs_of(const std::string& data_dir) {
  std::set<std::string> out;
  auto store = open_rocksdb_blob_store(data_dir + "/cas");
  REQUIRE(store);
  for (uint8_t ns = 0; ns < blob_ns_count; ++ns) {
    auto hashes = (*store)->list_range(ns, 0, 255);
    REQUIRE(hashes);
    for (auto& h : *hashes)
      out.insert(std::to_string(ns) + ":" + h);
  }
  return out;
}

json repairers(cluster& c) {
  auto r = c.api().api("GET", "/v1/admin/repair");
  REQUIRE(r.status == 200);
  json by_node = json::object();
  auto doc = json::parse(r.body); // (kept: a loop over a temporary's member dangles)
  for (auto& x : doc["repairers"])
    by_node[x["node"].get<std::string>()] = x;
  return by_node;
}

} // namespace

TEST_CASE("a storage node wiped and restarted is repaired back to its copies, at the set rate") {
  const uint64_t rate = 1 << 20; // repair_mb_per_s = 1
  cluster c(3, "repair_interval_s = 3600\nrepair_mb_per_s = 1\nfailure_timeout_ms = 1000");
  tmpdir home;
  for (int i = 0; i < 40; ++i) { // 4 MB in 40 files, each different
    std::string body(100 * 1000, 'a' + i % 26);
    body.replace(0, 16, "file " + std::to_string(i) + "           ");
    write_file(c.dir / "site/public/f" + std::to_string(i) + ".txt", body);
  }
  c.deployed(c.dir / "site", {"--project", "wiped"}, home.path());

  // what node2 holds, read from its store after kill -9
  auto& node2 = *c.nodes[1];
  node2.kill9();
  auto before = blobs_of(node2.data_dir);
  REQUIRE(before.size() > 20);

  // its disk is lost: it starts empty
  fs::remove_all(node2.data_dir);
  auto t0 = std::chrono::steady_clock::now();
  node2.start();
  c.wait_all_up();

  // the other two copy to it; their progress shows while they do
  int seen_mid_pass = 0;
  std::string example;
  json last;
  while (ms_since(t0) < 60000) {
    last = repairers(c);
    bool done = true;
    for (auto peer : {"node1", "node3"}) {
      auto& r = last[peer];
      if (!r.contains("running")) { // (not answering yet)
        done = false;
        continue;
      }
      if (r["running"].get<bool>() && r["ranges_done"].get<int>() > 0 &&
          r["ranges_done"].get<int>() < r["ranges_total"].get<int>()) {
        ++seen_mid_pass;
        example = std::string(peer) + " at slice " + std::to_string(r["ranges_done"].get<int>()) +
                  " of " + std::to_string(r["ranges_total"].get<int>()) + ", " +
                  std::to_string(r["copied"].get<int>()) + " blob(s) copied so far";
      }
      done = done && !r["running"].get<bool>() && r["copied_total"].get<uint64_t>() > 0;
    }
    if (done)
      break;
    std::this_thread::sleep_for(50ms);
  }
  auto repaired_ms = ms_since(t0);
  INFO(last.dump());
  uint64_t copied =
      last["node1"]["copied_total"].get<uint64_t>() + last["node3"]["copied_total"].get<uint64_t>();

  // the rate holds: each repairer took at least its bytes' time at 1 MiB/s
  for (auto peer : {"node1", "node3"}) {
    auto bytes = last[peer]["copied_bytes"].get<uint64_t>();
    auto ms = last[peer]["last_pass_ms"].get<int64_t>();
    std::cout << "repair: " << peer << " copied " << last[peer]["copied"] << " blob(s), "
              << bytes / 1024 << " KiB in " << ms << " ms (rate 1 MiB/s)\n";
    CHECK(bytes > 300 * 1000);
    CHECK(ms >= static_cast<int64_t>(bytes * 1000 / rate * 8 / 10));
  }

  node2.kill9();
  auto after = blobs_of(node2.data_dir);
  size_t back = 0;
  for (auto& b : before)
    back += after.count(b);
  std::cout << "repair: node2 held " << before.size() << " blobs; wiped, it got " << back
            << " of them back (" << copied << " copied by node1 and node3) within " << repaired_ms
            << " ms of its restart; progress seen mid-pass " << seen_mid_pass << " time(s), e.g. "
            << example << "\n";
  CHECK(back == before.size());
  CHECK(seen_mid_pass > 0);
}
