#include "actors/http_routes.hpp"
#include "messages/records.capnp.h"
#include "storage/sha256.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <catch2/catch.hpp>

using namespace ferry;

TEST_CASE("a Cap'n Proto manifest reads into the same entries as its JSON twin") {
  auto h = sha256_hex("x");
  capnp::MallocMessageBuilder mb;
  auto list = mb.initRoot<rec::Manifest>().initEntries(3);
  list[0].setPath("a/b.js");
  list[0].setKind(rec::EntryKind::FILE);
  list[0].setSize(1);
  list[0].setHash(h);
  list[1].setPath("run.sh");
  list[1].setKind(rec::EntryKind::EXECUTABLE);
  list[1].setSize(1);
  list[1].setHash(h);
  list[2].setPath("ln");
  list[2].setKind(rec::EntryKind::SYMLINK);
  list[2].setTarget("a/b.js");
  auto words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  std::string body(reinterpret_cast<const char*>(bytes.begin()), bytes.size());

  std::vector<flat_entry> from_capnp, from_json;
  REQUIRE(parse_manifest_body("application/x-ferry-manifest", body, from_capnp).empty());
  REQUIRE(
      parse_manifest_body("application/json",
                          R"({"files":[{"path":"a/b.js","hash":")" + h +
                              R"(","size":1},{"path":"run.sh","hash":")" + h +
                              R"(","size":1,"executable":true},{"path":"ln","symlink":"a/b.js"}]})",
                          from_json)
          .empty());
  REQUIRE(from_capnp.size() == 3);
  REQUIRE(from_json.size() == 3);
  built_tree a, b;
  REQUIRE_FALSE(build_tree(from_capnp, a));
  REQUIRE_FALSE(build_tree(from_json, b));
  CHECK(a.root == b.root);
  CHECK(from_capnp[1].kind == entry_kind::exec);
  CHECK(from_capnp[2].ref == "a/b.js");
}

TEST_CASE("manifest bodies that are not manifests are refused with a reason") {
  std::vector<flat_entry> out;
  CHECK_FALSE(parse_manifest_body("application/json", "[]", out).empty());
  CHECK_FALSE(parse_manifest_body("application/json", R"({"files":[{"path":1}]})", out).empty());
  CHECK_FALSE(parse_manifest_body("application/json", R"({"files":[{"path":"a"}]})", out).empty());
  CHECK_FALSE(parse_manifest_body("application/json",
                                  R"({"files":[{"path":"a","hash":"h","size":-1}]})", out)
                  .empty());
  CHECK_FALSE(parse_manifest_body("application/x-ferry-manifest", "garbage!", out).empty());
}
