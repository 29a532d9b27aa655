// Placement of blobs over storage nodes (rendezvous hashing) and the
// bounded blob cache of nodes without storage.
#include "actors/replicated_store.hpp"
#include "messages/errors.hpp"
#include "storage/cache_blob_store.hpp"
#include "storage/sha256.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>

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
