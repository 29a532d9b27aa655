// Placement of blobs over storage nodes (rendezvous hashing) and the
// bounded blob cache of nodes without storage.
#include "actors/repairer.hpp"
#include "actors/replicated_store.hpp"
#include "messages/errors.hpp"
#include "storage/cache_blob_store.hpp"
#include "storage/sha256.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

using namespace ferry;
using ferry::test::tmpdir;

TEST_CASE("blobs spread evenly over the storage nodes, and a new node takes about 1/N") {
  std::vector<std::string> three{"a", "b", "c"}, four{"a", "b", "c", "d"};
  const int n = 20000;
  std::map<std::string, int> first;
  int moved = 0, moved_elsewhere = 0;
  for (int i = 0; i < n; ++i) {
    auto h = sha256_hex(std::to_string(i));
    auto r3 = rank_nodes(three, 0, h), r4 = rank_nodes(four, 0, h);
    REQUIRE(r3.size() == 3);
    CHECK(rank_nodes(three, 0, h) == r3); // the same every time
    ++first[r3[0]];
    if (r3[0] != r4[0]) {
      ++moved;
      moved_elsewhere += r4[0] != "d"; // only ever to the new node
    }
    // the order of the others is kept when a node joins
    std::vector<std::string> kept;
    for (auto& x : r4)
      if (x != "d")
        kept.push_back(x);
    CHECK(kept == r3);
  }
  for (auto& [node, count] : first) {
    INFO(node << " holds " << count << " of " << n);
    CHECK(count > n / 3 * 9 / 10);
    CHECK(count < n / 3 * 11 / 10);
  }
  INFO(moved << " of " << n << " moved to the fourth node");
  CHECK(moved > n / 4 * 9 / 10);
  CHECK(moved < n / 4 * 11 / 10);
  CHECK(moved_elsewhere == 0);
  // a namespace places the same hash apart (a file and a node never collide)
  int same = 0;
  for (int i = 0; i < 300; ++i) {
    auto h = sha256_hex("x" + std::to_string(i));
    same += rank_nodes(three, 0, h) == rank_nodes(three, 1, h);
  }
  CHECK(same < 150);
}

TEST_CASE("the blob cache keeps the most recently used within its size, and drops a damaged file") {
  tmpdir dir;
  auto c = open_cache_blob_store(dir / "cache", 10000);
  REQUIRE(c);
  auto& cache = **c;
  auto blob_of = [](char ch, size_t n) { return std::string(n, ch); };
  std::vector<std::string> data{blob_of('a', 3000), blob_of('b', 3000), blob_of('c', 3000),
                                blob_of('d', 3000)};
  std::vector<std::string> hash;
  for (auto& d : data)
    hash.push_back(sha256_hex(d));
  for (int i = 0; i < 3; ++i)
    REQUIRE(cache.put({blob_view{0, hash[i], data[i]}}));
  REQUIRE(cache.get(blob_ref{0, hash[0]})); // a is used again: b is the oldest now
  REQUIRE(cache.put({blob_view{0, hash[3], data[3]}}));
  CHECK(cache.get(blob_ref{0, hash[0]}).value() == data[0]);
  CHECK_FALSE(cache.get(blob_ref{0, hash[1]})); // evicted
  CHECK(cache.get(blob_ref{0, hash[2]}));
  CHECK(cache.get(blob_ref{0, hash[3]}));
  auto st = stats_of_cache(cache);
  CHECK(st.bytes == 9000);
  CHECK(st.evicted == 1);
  CHECK(st.bytes <= 10000);
  auto missing = cache.find_missing({blob_ref{0, hash[1]}, blob_ref{0, hash[2]}});
  REQUIRE(missing);
  CHECK(*missing == std::vector<uint32_t>{0});
  // a file damaged on disk is not returned, and leaves the cache
  {
    std::ofstream f(dir / "cache" + "/0-" + hash[2], std::ios::binary | std::ios::trunc);
    f << "not what it was";
  }
  auto damaged = cache.get(blob_ref{0, hash[2]});
  REQUIRE_FALSE(damaged);
  CHECK(code_of(damaged.error()) == ec::not_found);
  CHECK(stats_of_cache(cache).bytes == 6000);
  // what is bigger than the whole cache is not kept; a reopen starts empty
  auto big = blob_of('e', 20000);
  REQUIRE(cache.put({blob_view{0, sha256_hex(big), big}}));
  CHECK_FALSE(cache.get(blob_ref{0, sha256_hex(big)}));
  auto again = open_cache_blob_store(dir / "cache", 10000);
  REQUIRE(again);
  CHECK_FALSE((*again)->get(blob_ref{0, hash[0]}));
  CHECK(std::filesystem::is_empty(dir / "cache"));
}

TEST_CASE("a replica lists a slice of its blobs in order: slice digests ignore order") {
  tmpdir dir;
  auto store = open_rocksdb_blob_store(dir / "cas");
  REQUIRE(store);
  std::vector<std::string> bodies, hashes;
  for (int i = 0; i < 200; ++i)
    bodies.push_back("blob " + std::to_string(i));
  std::vector<blob_view> views;
  for (auto& b : bodies) {
    hashes.push_back(sha256_hex(b));
    views.push_back(blob_view{0, hashes.back(), b});
  }
  REQUIRE((*store)->put(views));
  // one in the tree namespace, which a file slice does not list
  std::string node = "not a real node";
  auto tree_hash = sha256_hex(node);
  REQUIRE((*store)->put({blob_view{1, tree_hash, node}}));

  std::vector<std::string> listed;
  for (int slice = 0; slice < 16; ++slice) {
    auto part = (*store)->list_range(0, static_cast<uint8_t>(slice * 16),
                                     static_cast<uint8_t>(slice * 16 + 15));
    REQUIRE(part);
    for (auto& h : *part) {
      CHECK(std::stoi(h.substr(0, 1), nullptr, 16) == slice); // in its slice
      listed.push_back(h);
    }
  }
  auto sorted = hashes;
  std::sort(sorted.begin(), sorted.end());
  CHECK(listed == sorted); // every blob once, in order
  auto trees = (*store)->list_range(1, 0, 255);
  REQUIRE(trees);
  CHECK(*trees == std::vector<std::string>{tree_hash});
  CHECK_FALSE((*store)->list_range(9, 0, 255));

  // digests: the same set in any order is equal; one blob more or less is not
  auto shuffled = hashes;
  std::reverse(shuffled.begin(), shuffled.end());
  CHECK(digest_of(hashes).xor_hash == digest_of(shuffled).xor_hash);
  CHECK(digest_of(hashes).count == 200);
  auto fewer = hashes;
  fewer.pop_back();
  CHECK(digest_of(fewer).xor_hash != digest_of(hashes).xor_hash);

  // holders: the first R of the rendezvous order
  std::vector<std::string> nodes{"a", "b", "c"};
  auto h = holders_of(nodes, 2, 0, hashes[0]);
  CHECK(h.size() == 2);
  auto ranked = rank_nodes(nodes, 0, hashes[0]);
  CHECK(h == std::vector<std::string>(ranked.begin(), ranked.begin() + 2));
  CHECK(holders_of(nodes, 5, 0, hashes[0]).size() == 3);
}

TEST_CASE("a sweep deletes what is not live and untouched, and reclaims its segments") {
  tmpdir dir;
  auto opened = open_rocksdb_blob_store(dir / "cas");
  REQUIRE(opened);
  auto& store = **opened;
  auto segments = [&] {
    uint64_t n = 0;
    for (auto& e : std::filesystem::directory_iterator(dir / "cas/segments"))
      n += e.file_size();
    return n;
  };
  // 100 blobs of 10 KB; the first 20 are live
  std::vector<std::string> bodies, hashes;
  for (int i = 0; i < 100; ++i) {
    bodies.push_back(std::string(10000, static_cast<char>('A' + i % 50)) + std::to_string(i));
    hashes.push_back(sha256_hex(bodies.back()));
  }
  std::vector<blob_view> views;
  for (int i = 0; i < 100; ++i)
    views.push_back(blob_view{0, hashes[i], bodies[i]});
  REQUIRE(store.put(views));
  std::vector<blob_ref> live;
  for (int i = 0; i < 20; ++i)
    live.push_back(blob_ref{0, hashes[i]});

  // a store open for less than the grace has not seen every upload: no sweep
  auto young = store.sweep(live, std::chrono::seconds(3600));
  REQUIRE_FALSE(young);
  CHECK_THAT(reason_of(young.error()), Catch::Contains("gc_grace_s"));
  // a put counts on its blobs for the grace; past it, the dead ones go
  auto all = std::vector<blob_ref>();
  for (auto& h : hashes)
    all.push_back(blob_ref{0, h});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  // one dead blob counted on by an upload just now: kept
  REQUIRE(store.find_missing({blob_ref{0, hashes[50]}})->empty());
  auto before = segments();
  auto r = store.sweep(live, std::chrono::seconds(1));
  REQUIRE(r);
  CHECK(r->checked == 100);
  CHECK(r->deleted == 79);
  auto missing = store.find_missing(all);
  REQUIRE(missing);
  CHECK(missing->size() == 79);
  for (int i = 0; i < 20; ++i)
    CHECK(store.get(blob_ref{0, hashes[i]}).value() == bodies[i]);
  CHECK(store.get(blob_ref{0, hashes[50]}).value() == bodies[50]);
  // the segment was mostly dead: copied and removed
  CHECK(r->segments_compacted + r->segments_removed >= 1);
  CHECK(segments() < before / 3);
  // and it still takes new blobs after the sweep
  std::string fresh = "after the sweep";
  REQUIRE(store.put({blob_view{0, sha256_hex(fresh), fresh}}));
  CHECK(store.get(blob_ref{0, sha256_hex(fresh)}).value() == fresh);
}
