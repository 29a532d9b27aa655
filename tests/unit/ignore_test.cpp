#include "cli/ignore.hpp"

#include <catch2/catch.hpp>

using namespace ferry::cli;

TEST_CASE("globs: * and ? stay within a name, ** crosses directories") {
  CHECK(glob_match("*.js", "a.js"));
  CHECK_FALSE(glob_match("*.js", "a/b.js"));
  CHECK(glob_match("**/*.js", "a/b/c.js"));
  CHECK(glob_match("**/*.js", "c.js"));
  CHECK(glob_match("a/**", "a/b/c"));
  CHECK(glob_match("f?.txt", "f1.txt"));
  CHECK_FALSE(glob_match("f?.txt", "f/.txt"));
  CHECK(glob_match("[a-c]x", "bx"));
  CHECK_FALSE(glob_match("[!a-c]x", "bx"));
}

TEST_CASE("default rules leave out version control and dependencies") {
  ignore_rules r;
  CHECK(r.ignored(".git", true));
  CHECK(r.ignored("sub/node_modules", true));
  CHECK(r.ignored(".DS_Store", false));
  CHECK_FALSE(r.ignored("src", true));
  CHECK_FALSE(r.ignored("node_modules", false)); // a file of that name is kept
}

TEST_CASE(".ferryignore rules: anchoring, directories only, negation, comments") {
  ignore_rules r;
  r.add("# comment\n*.log\n/build/\ndocs/*.md\n!docs/keep.md\n\\#literal\n");
  CHECK(r.ignored("x.log", false));
  CHECK(r.ignored("a/b/x.log", false));
  CHECK(r.ignored("build", true));
  CHECK_FALSE(r.ignored("build", false));
  CHECK_FALSE(r.ignored("src/build", true));
  CHECK(r.ignored("docs/a.md", false));
  CHECK_FALSE(r.ignored("docs/keep.md", false));
  CHECK(r.ignored("#literal", false));
}
