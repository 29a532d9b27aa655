#include "storage/sha256.hpp"
#include "storage/tree.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

using namespace ferry;

namespace {
flat_entry file(std::string path, std::string content = "x") {
  return flat_entry{std::move(path), entry_kind::file, content.size(), sha256_hex(content)};
}
} // namespace

TEST_CASE("a directory node encodes canonically and parses back") {
  std::vector<tree_entry> entries{
      {entry_kind::dir, 10, sha256_hex("d"), "a"},
      {entry_kind::file, 3, sha256_hex("abc"), "a b.txt"},
      {entry_kind::link, 5, "a/b.c", "ln"},
      {entry_kind::exec, 1, sha256_hex("x"), "run.sh"},
  };
  auto bytes = encode_tree(entries);
  std::vector<tree_entry> back;
  REQUIRE(parse_tree(bytes, back).empty());
  REQUIRE(back.size() == 4);
  CHECK(back[2].ref == "a/b.c");
  CHECK(encode_tree(back) == bytes);
}

TEST_CASE("non-canonical or malformed directory nodes are refused") {
  auto h = sha256_hex("x");
  std::vector<tree_entry> out;
  CHECK_FALSE(parse_tree("f 1 " + h + " b\nf 1 " + h + " a\n", out).empty()); // unsorted
  CHECK_FALSE(parse_tree("f 1 " + h + " a\nf 1 " + h + " a\n", out).empty()); // duplicate
  CHECK_FALSE(parse_tree("f 1 " + h + " a", out).empty());                    // no newline
  CHECK_FALSE(parse_tree("f 01 " + h + " a\n", out).empty());                 // leading zero
  CHECK_FALSE(parse_tree("q 1 " + h + " a\n", out).empty());                  // kind
  CHECK_FALSE(parse_tree("f 1 " + h.substr(1) + " a\n", out).empty());        // hash
  CHECK_FALSE(parse_tree("f 1 " + h + " ..\n", out).empty());                 // name
  CHECK_FALSE(parse_tree("f 1 " + h + " a/b\n", out).empty());                // slash
  CHECK_FALSE(parse_tree("l 3 2e2e x\n", out).empty());                       // target len
  CHECK(parse_tree("", out).empty());                                         // empty dir
}

TEST_CASE("the root hash does not depend on the order of the manifest") {
  std::vector<flat_entry> files{file("b/x.js", "1"), file("a/y.js", "2"), file("a-b", "3"),
                                file("a/z/w", "4"), file("c", "5")};
  built_tree t1, t2;
  REQUIRE_FALSE(build_tree(files, t1));
  std::shuffle(files.begin(), files.end(), std::mt19937{42});
  REQUIRE_FALSE(build_tree(files, t2));
  CHECK(t1.root == t2.root);
  CHECK(t1.files == 5);
  CHECK(t1.bytes == 5);
  CHECK(t1.nodes.back().path.empty()); // the root comes last
  // children before parents
  auto pos = [&](const std::string& p) {
    return std::find_if(t1.nodes.begin(), t1.nodes.end(), [&](auto& n) { return n.path == p; }) -
           t1.nodes.begin();
  };
  CHECK(pos("a/z") < pos("a"));
  CHECK(pos("a") < pos(""));
  // every node parses and names its children
  std::vector<tree_entry> parsed;
  for (auto& n : t1.nodes) {
    CHECK(parse_tree(n.bytes, parsed).empty());
    CHECK(sha256_hex(n.bytes) == n.hash);
  }
}

TEST_CASE("changing one file changes the root and only its ancestors") {
  built_tree t1, t2;
  REQUIRE_FALSE(build_tree({file("a/b/c", "1"), file("d/e", "2")}, t1));
  REQUIRE_FALSE(build_tree({file("a/b/c", "changed"), file("d/e", "2")}, t2));
  CHECK(t1.root != t2.root);
  auto hash_of = [](const built_tree& t, const std::string& p) {
    for (auto& n : t.nodes)
      if (n.path == p)
        return n.hash;
    return std::string{};
  };
  CHECK(hash_of(t1, "d") == hash_of(t2, "d"));
  CHECK(hash_of(t1, "a/b") != hash_of(t2, "a/b"));
}

TEST_CASE("a manifest with bad paths, duplicates or escaping links is refused") {
  built_tree t;
  CHECK(build_tree({file("../x")}, t).code == "bad_path");
  CHECK(build_tree({file("/abs")}, t).code == "bad_path");
  CHECK(build_tree({file("")}, t).code == "bad_path");
  CHECK(build_tree({file(std::string("a\0b", 3))}, t).code == "bad_path");
  CHECK(build_tree({file("a/b"), file("a/b")}, t).code == "bad_path");
  CHECK(build_tree({file("a"), file("a/b")}, t).code == "bad_path");
  CHECK(build_tree({flat_entry{"l", entry_kind::link, 0, "../../x"}}, t).code == "bad_symlink");
  CHECK(build_tree({flat_entry{"f", entry_kind::file, 1, "nothex"}}, t).code == "bad_request");
}
