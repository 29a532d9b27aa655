#include "messages/errors.hpp"
#include "storage/metadata_store.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

using namespace ferry;
using ferry::test::tmpdir;

TEST_CASE("users are found by token, and only the token's hash is stored") {
  tmpdir d;
  auto m = metadata_store::open(d.path());
  REQUIRE(m);
  CHECK_FALSE((*m)->any_user().value());
  REQUIRE_FALSE((*m)->add_user(principal{"alice", false}, "fry_secret", 1));
  CHECK((*m)->any_user().value());
  auto p = (*m)->find_token("fry_secret");
  REQUIRE(p);
  REQUIRE(*p);
  CHECK((*p)->user == "alice");
  CHECK_FALSE((*p)->admin);
  CHECK_FALSE((*(*m)->find_token("fry_wrong")));
}

TEST_CASE("projects and versions persist as records across a reopen") {
  tmpdir d;
  {
    auto m = metadata_store::open(d.path());
    REQUIRE(m);
    project_record p{project_info{"web", "alice", 5, 0}, 1};
    for (uint64_t n = 1; n <= 3; ++n) {
      version_record v;
      v.info = version_info{"id" + std::to_string(n),
                            "web",
                            n,
                            n == 3 ? "created" : "sealed",
                            "r",
                            n,
                            n * 10,
                            7,
                            8,
                            "alice",
                            "",
                            "",
                            "preview"};
      p.next_number = n + 1;
      REQUIRE_FALSE((*m)->put_version(v, &p));
    }
  }
  auto m = metadata_store::open(d.path());
  REQUIRE(m);
  auto p = (*m)->find_project("web").value();
  REQUIRE(p);
  CHECK(p->info.owner == "alice");
  CHECK(p->next_number == 4);
  auto vs = (*m)->list_versions("web").value();
  REQUIRE(vs.size() == 3);
  CHECK(vs[0].number == 1);
  CHECK(vs[2].state == "created");
  CHECK(vs[1].bytes == 20);
  CHECK((*m)->list_versions("other").value().empty());
  CHECK_FALSE((*m)->find_version("nope").value());
}
