#include "storage/paths.hpp"

#include <catch2/catch.hpp>

using namespace ferry;

TEST_CASE("relative paths of plain names are accepted") {
  CHECK(check_path("a").empty());
  CHECK(check_path("a/b/c.js").empty());
  CHECK(check_path(".well-known/x").empty());
  CHECK(check_path("a b/ü.txt").empty());
}

TEST_CASE("paths that could escape or confuse are refused") {
  CHECK_FALSE(check_path("").empty());
  CHECK_FALSE(check_path("/etc/passwd").empty());
  CHECK_FALSE(check_path("../x").empty());
  CHECK_FALSE(check_path("a/../../x").empty());
  CHECK_FALSE(check_path("a/./b").empty());
  CHECK_FALSE(check_path("a//b").empty());
  CHECK_FALSE(check_path("a/").empty());
  CHECK_FALSE(check_path(std::string("a\0b", 3)).empty());
  CHECK_FALSE(check_path("a\nb").empty());
  CHECK_FALSE(check_path(std::string(300, 'x')).empty());
  CHECK_FALSE(check_path(std::string(5000, 'x')).empty());
}

TEST_CASE("a symlink may point anywhere inside the tree, never outside") {
  CHECK(check_link_target("a/link", "../b").empty());
  CHECK(check_link_target("a/b/link", "../../c/d").empty());
  CHECK(check_link_target("link", "a/b").empty());
  CHECK(check_link_target("link", "./a").empty());
  CHECK_FALSE(check_link_target("link", "../x").empty());
  CHECK_FALSE(check_link_target("a/link", "../../x").empty());
  CHECK_FALSE(check_link_target("link", "/etc/passwd").empty());
  CHECK_FALSE(check_link_target("link", "").empty());
  // ".." after a name could climb out through a symlinked directory
  CHECK_FALSE(check_link_target("a/link", "b/../..").empty());
  CHECK_FALSE(check_link_target("a/b/link", "d/../x").empty());
}

TEST_CASE("names with control characters or bidirectional overrides are refused") {
  for (std::string bad : {std::string("a\rb"), std::string("a\x1b[2Jb"), std::string("a\x7f"),
                          std::string("a\xc2\x9b"
                                      "31mb"),
                          std::string("invoice\xe2\x80\xae"
                                      "fdp.exe"),
                          std::string("x\xe2\x81\xa6y")}) {
    INFO(bad);
    CHECK_FALSE(check_name(bad).empty());
  }
  CHECK(check_name("caf\xc3\xa9.html").empty()); // other UTF-8 is fine
  CHECK(check_name("\xe2\x80\x94 dash").empty());
}
