#include "cli/ignore.hpp"
#include "cli/walk.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

using namespace ferry::cli;
using ferry::test::tmpdir;
using ferry::test::write_file;

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

TEST_CASE("default rules leave out .env files, local build caches and editor files") {
  ignore_rules r;
  for (auto* p :
       {".env", ".env.local", ".env.production", "app/.env", ".next", ".vercel", ".cache", ".idea",
        "notes.md~", ".main.js.swp", "npm-debug.log", ".gitignore", ".ferryignore"})
    CHECK((r.ignored(p, false) || r.ignored(p, true)));
  CHECK_FALSE(r.ignored("env.js", false));
  CHECK_FALSE(r.ignored("index.html", false));
  CHECK_FALSE(r.ignored(".well-known", true));
  // a project takes one back
  r.add("!.env.example\n");
  CHECK_FALSE(r.ignored(".env.example", false));
  CHECK(r.ignored(".env", false));
}

TEST_CASE(
    "a project's .gitignore, .vercelignore and .ferryignore apply in that order: a "
    "prebuilt .vercel/output always goes up") {
  tmpdir d;
  write_file(d / "index.html", "x");
  write_file(d / ".env", "PASSWORD=hunter2");
  write_file(d / "dist/app.js", "built here");
  write_file(d / "secret.txt", "x");
  write_file(d / "notes.md", "x");
  write_file(d / ".gitignore", "dist/\nsecret.txt\n.vercel\n");
  write_file(d / ".vercelignore", "notes.md\n!.env.production\n"); // (not enough)
  write_file(d / ".ferryignore", "!secret.txt\n");
  write_file(d / ".vercel/project.json", "{}");
  write_file(d / ".vercel/output/config.json", R"({"version": 3})");
  write_file(d / ".vercel/output/static/index.html", "prebuilt");
  write_file(d / ".vercel/output/functions/api.func/node_modules/dep/index.js", "x");
  write_file(d / ".vercel/output/functions/api.func/.env", "TOKEN=traced-in");
  write_file(d / "app/.env.production", "X=1");
  write_file(d / ".envrc", "export X=1");
  auto scan = scan_tree(d.path());
  REQUIRE(scan.errors.empty());
  std::set<std::string> paths;
  for (auto& f : scan.files)
    paths.insert(f.path);
  CHECK(paths == std::set<std::string>{"index.html", "secret.txt", ".vercel/output/config.json",
                                       ".vercel/output/static/index.html",
                                       ".vercel/output/functions/api.func/node_modules/dep/"
                                       "index.js"});
  CHECK(scan.ignored_env == std::vector<std::string>{".env", ".envrc",
                                                     ".vercel/output/functions/api.func/.env",
                                                     "app/.env.production"});
  // only .ferryignore uploads one
  write_file(d / ".ferryignore", "!secret.txt\n!app/.env.production\n");
  scan = scan_tree(d.path());
  bool up = false;
  for (auto& f : scan.files)
    up = up || f.path == "app/.env.production";
  CHECK(up);

  // without config.json, .vercel is a local cache like any other
  std::filesystem::remove(d / ".vercel/output/config.json");
  scan = scan_tree(d.path());
  for (auto& f : scan.files)
    CHECK(f.path.rfind(".vercel", 0) != 0);
}

TEST_CASE("a folder's own .gitignore leaves out its files as git does and a .env stays out") {
  tmpdir d;
  write_file(d / "index.html", "x");
  write_file(d / ".gitignore", "*.log\n");
  write_file(d / "app/.gitignore", "/build/\ncache.json\n!keep.log\n!.env.local\n");
  write_file(d / "app/build/out.js", "x");
  write_file(d / "app/src/build/kept.js", "x"); // ("/build/" is anchored to app/)
  write_file(d / "app/cache.json", "x");
  write_file(d / "app/src/cache.json", "x"); // (a name without '/': anywhere below app/)
  write_file(d / "app/keep.log", "x");       // (taken back by app's own rule)
  write_file(d / "app/other.log", "x");
  write_file(d / "app/.env.local", "SECRET=1"); // (only .ferryignore uploads one)
  write_file(d / "cache.json", "x");            // (outside app/: app's rules do not reach it)
  write_file(d / "lib/build/x.js", "x");
  auto scan = scan_tree(d.path());
  REQUIRE(scan.errors.empty());
  std::set<std::string> paths;
  for (auto& f : scan.files)
    paths.insert(f.path);
  CHECK(paths == std::set<std::string>{"index.html", "app/src/build/kept.js", "app/keep.log",
                                       "cache.json", "lib/build/x.js"});
  CHECK(scan.ignored_env == std::vector<std::string>{"app/.env.local"});
}
