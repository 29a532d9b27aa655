// Builds of fixture projects end in a stored artifact whose files are right.
#include "messages/errors.hpp"
#include "sandbox/build_runner.hpp"
#include "storage/dir_io.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

#include <unistd.h>

using namespace ferry;
using namespace ferry::sandbox;
using ferry::test::read_file;
using ferry::test::tmpdir;
using ferry::test::write_file;
namespace fs = std::filesystem;

namespace {

struct fixture {
  tmpdir dir;
  blob_store_ptr store;
  std::string log;

  fixture() {
    auto s = open_rocksdb_blob_store(dir / "cas");
    REQUIRE(s);
    store = make_verifying_blob_store(*s);
  }

  /// Stores a project directory as a source tree and builds it.
  build_outcome build(const std::string& project, std::map<std::string, std::string> env = {}) {
    auto src = import_dir(*store, project, static_cast<uint8_t>(blob_ns::tree));
    REQUIRE(src);
    build_request req;
    req.source_root = src->first;
    req.slot_dir = dir / "slot";
    req.builders_dir = std::string(FERRY_SOURCE_DIR) + "/builders";
    req.build_env = std::move(env);
    req.lim.wall = std::chrono::seconds(60);
    req.egress.hosts = {host_npm_registry()};
    req.name = "build-test-" + std::to_string(::getpid());
    log.clear();
    return run_build(*store, req,
                     [&](stream, std::string_view line) { log += std::string(line) + "\n"; });
  }

  /// Restores an artifact into a fresh directory and returns its path.
  std::string unpack(const build_outcome& o) {
    auto to = dir / ("artifact-" + o.artifact_root.substr(0, 8));
    REQUIRE_FALSE(
        export_tree(*store, o.artifact_root, static_cast<uint8_t>(blob_ns::output_tree), to));
    return to;
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "the shipped example builds into static files and a function") {
  auto o = build(std::string(FERRY_SOURCE_DIR) + "/examples/hello");
  INFO(log << o.error);
  REQUIRE(o.ok());
  auto out = unpack(o);
  CHECK_THAT(read_file(out + "/static/index.html"), Catch::Contains("Hello from ferry"));
  CHECK(fs::exists(out + "/static/style.css"));
  CHECK_THAT(read_file(out + "/functions/api/hello.func/.vc-config.json"),
             Catch::Contains("\"handler\": \"api/hello.js\""));
  CHECK(fs::exists(out + "/functions/api/hello.func/api/hello.js"));
  // (a function at its path needs no route: the router finds it there)
  CHECK_THAT(read_file(out + "/config.json"), Catch::Contains("\"version\": 3"));
  CHECK_THAT(log, Catch::Contains("ferry: builder node"));
  CHECK_THAT(log, Catch::Contains("1 function(s)"));
}

TEST_CASE_METHOD(fixture, "a static site with public/ serves only public/") {
  write_file(dir / "site/public/index.html", "<p>public</p>");
  write_file(dir / "site/public/img/a.svg", "<svg/>");
  write_file(dir / "site/notes.md", "not served");
  auto o = build(dir / "site");
  INFO(log << o.error);
  REQUIRE(o.ok());
  auto out = unpack(o);
  CHECK(read_file(out + "/static/index.html") == "<p>public</p>");
  CHECK(fs::exists(out + "/static/img/a.svg"));
  CHECK_FALSE(fs::exists(out + "/static/notes.md"));
  CHECK_THAT(log, Catch::Contains("ferry: builder static"));
}

TEST_CASE_METHOD(fixture, "a build sees only its own environment, never the host's") {
  setenv("FERRY_DEPLOY_SECRET", "s3cr3t-value", 1);
  write_file(dir / "envsite/ferry.json", R"({"builder": "static"})");
  write_file(dir / "envsite/index.html", "x");
  write_file(dir / "envsite/package.json", R"({"scripts": {}})");
  // a builder override that prints the environment, via a custom project builder
  write_file(dir / "envsite/ferry.json", R"({"builder": "static-build"})");
  write_file(
      dir / "envsite/package.json",
      R"({"scripts": {"build": "env > seen-env.txt && mkdir -p dist && cp seen-env.txt dist/"}})");
  auto o = build(dir / "envsite", {{"FERRY_PROJECT", "envsite"}});
  unsetenv("FERRY_DEPLOY_SECRET");
  INFO(log << o.error);
  REQUIRE(o.ok());
  auto seen = read_file(unpack(o) + "/static/seen-env.txt");
  CHECK_THAT(seen, Catch::Contains("FERRY_PROJECT=envsite"));
  CHECK(seen.find("s3cr3t-value") == std::string::npos);
  CHECK(seen.find("FERRY_DEPLOY_SECRET") == std::string::npos);
}

TEST_CASE_METHOD(fixture, "a failing build reports why and stores no artifact") {
  write_file(dir / "bad/ferry.json", R"({"builder": "no-such-builder"})");
  write_file(dir / "bad/index.html", "x");
  auto o = build(dir / "bad");
  CHECK_FALSE(o.ok());
  CHECK(o.artifact_root.empty());
  CHECK_THAT(log, Catch::Contains("unknown builder \"no-such-builder\""));
  CHECK_THAT(o.error, Catch::Contains("exit 1"));
}

TEST_CASE_METHOD(fixture, "a TypeScript function compiles with the project's typescript and runs") {
  auto o = build(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/ts-fn");
  INFO(log << o.error);
  REQUIRE(o.ok());
  auto out = unpack(o);
  auto fn = out + "/functions/api/greet.func";
  CHECK_THAT(read_file(fn + "/.vc-config.json"), Catch::Contains("\"handler\": \"api/greet.js\""));
  CHECK_FALSE(fs::exists(fn + "/node_modules/typescript")); // a devDependency stays behind
  CHECK_THAT(log, Catch::Contains("compiled 1 TypeScript function(s)"));
  auto check = "cd '" + fn +
               "' && node -e \"require('./api/greet.js').default({url: '/?name=ferry'}, "
               "{setHeader() {}, end(b) { console.log(b) }})\"";
  auto* p = popen(check.c_str(), "r");
  REQUIRE(p);
  char buf[256] = {};
  auto n = fread(buf, 1, sizeof buf - 1, p);
  pclose(p);
  CHECK(std::string(buf, n) == "{\"message\":\"hello, ferry\",\"length\":5}\n");
}

TEST_CASE_METHOD(fixture, "an npm run build site serves what its build made") {
  write_file(dir / "sb/package.json",
             R"({"scripts": {"build": "mkdir -p dist && echo built-page > dist/index.html"}})");
  write_file(dir / "sb/src.txt", "source only");
  auto o = build(dir / "sb");
  INFO(log << o.error);
  REQUIRE(o.ok());
  auto out = unpack(o);
  CHECK(read_file(out + "/static/index.html") == "built-page\n");
  CHECK_FALSE(fs::exists(out + "/static/src.txt"));
  CHECK_THAT(log, Catch::Contains("ferry: builder static-build"));
}

TEST_CASE_METHOD(fixture, "a whole Node app becomes one function on every route") {
  write_file(dir / "app/package.json",
             R"({"name": "app", "scripts": {"start": "node server.js"}})");
  write_file(dir / "app/server.js",
             "require('http').createServer((q, s) => s.end('app')).listen(process.env.PORT);\n");
  write_file(dir / "app/public/logo.txt", "logo");
  auto o = build(dir / "app");
  INFO(log << o.error);
  REQUIRE(o.ok());
  auto out = unpack(o);
  CHECK_THAT(read_file(out + "/functions/index.func/.vc-config.json"),
             Catch::Contains("\"handler\": \"server.js\""));
  CHECK(fs::exists(out + "/functions/index.func/server.js"));
  CHECK(read_file(out + "/static/logo.txt") == "logo");
  CHECK_THAT(read_file(out + "/config.json"), Catch::Contains("\"src\": \"/(.*)\""));
  CHECK_THAT(log, Catch::Contains("a whole app started from server.js"));
}
