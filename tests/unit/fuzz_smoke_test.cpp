// Runs the fuzz entry points over seeds and many random mutations of them,
// so that every build exercises the parsers of untrusted bytes. The real
// coverage-guided runs are scripts/fuzz.sh (libFuzzer).
#include "storage/sha256.hpp"
#include "storage/tree.hpp"
#include "tests/fuzz/fuzz_targets.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace ferry;

namespace {

void mutate_and_run(int (*target)(const uint8_t*, size_t), std::vector<std::string> seeds) {
  std::mt19937 rng(1234);
  for (auto& s : seeds)
    target(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  for (int i = 0; i < 20000; ++i) {
    auto s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0:
          if (!s.empty())
            s[rng() % s.size()] = static_cast<char>(rng());
          break;
        case 1:
          s.insert(s.begin() + static_cast<long>(rng() % (s.size() + 1)), static_cast<char>(rng()));
          break;
        case 2:
          if (!s.empty())
            s.erase(rng() % s.size(), 1 + rng() % 8);
          break;
        case 3: s.resize(rng() % (s.size() + 1)); break;
      }
    }
    target(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
}

} // namespace

TEST_CASE("the parsers of untrusted bytes survive mutated input") {
  auto h = sha256_hex("x");
  std::vector<tree_entry> entries{{entry_kind::dir, 3, h, "a"},
                                  {entry_kind::file, 1, h, "b"},
                                  {entry_kind::link, 3, "a/b", "c"}};
  mutate_and_run(fuzz::tree_node, {encode_tree(entries), "f 1 " + h + " x\n"});
  std::string pack(1, '\0');
  pack.append(32, 'h');
  uint64_t len = 3;
  pack.append(reinterpret_cast<const char*>(&len), 8);
  pack += "abc";
  mutate_and_run(fuzz::blob_pack, {pack, pack + pack});
  mutate_and_run(fuzz::manifest,
                 {"\x00{\"files\":[{\"path\":\"a/b\",\"hash\":\"" + h +
                      "\",\"size\":1},"
                      "{\"path\":\"l\",\"symlink\":\"a/b\"}]}",
                  std::string("\x01\x00\x00\x00\x00\x04\x00\x00\x00", 9) + std::string(40, '\0')});
  mutate_and_run(fuzz::cluster_config,
                 {"domain = x\n[node a]\napi = 127.0.0.1:1\nactors = 127.0.0.1:2\nroles = api\n"});
  mutate_and_run(fuzz::router_text, {"/api/a%20b?x=%C3%A9", "caf\xc3\xa9 \"q\" \\ \x01",
                                     "\xf0\x9f\x98\x80\xed\xa0\x80\xe0\x80\xff%zz%00"});
  // found by libFuzzer: a JSON object without "files" read past the object
  std::string no_files("\x00{\"x\":{}}", 10);
  fuzz::manifest(reinterpret_cast<const uint8_t*>(no_files.data()), no_files.size());
  SUCCEED("no crash, no invariant broken");
}
