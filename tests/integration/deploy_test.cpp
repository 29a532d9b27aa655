// ferry deploy against a real ferryd: only what changed travels, the version
// id is all that goes to stdout, and a bad tree is refused before anything
// is uploaded.
#include "storage/sha256.hpp"
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

using namespace ferry;
using namespace ferry::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct fixture {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path()};
  std::string home = dir / "home";
  std::string tree = dir / "tree";

  fixture() { fs::create_directories(home); }

  run_result deploy(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"deploy", tree, "--project", "web"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ferry_cli(args, node.url, node.token, home);
  }
  json deploy_json() {
    auto r = deploy({"--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }
};

void make_tree(const std::string& root, int files) {
  for (int i = 0; i < files; ++i)
    write_file(root + "/d" + std::to_string(i % 7) + "/sub" + std::to_string(i % 3) + "/f" +
                   std::to_string(i) + ".js",
               "export const v = " + std::to_string(i) + ";\n" + std::string(i * 37 % 5000, 'x'));
}

} // namespace

TEST_CASE_METHOD(fixture,
                 "deploy prints only the deployment's URL on stdout, and ls/inspect show it") {
  make_tree(tree, 50);
  auto r = deploy();
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto url = r.out.substr(0, r.out.find('\n'));
  CHECK(r.out == url + "\n");
  REQUIRE(url.rfind("http://", 0) == 0); // http://ID-web.ferry.localhost:PORT
  auto id = url.substr(7, 13);
  CHECK(url.substr(20, 18) == "-web.ferry.localho");
  auto v = json::parse(node.api("GET", "/v1/versions/" + id).body);
  CHECK(v["state"] == "built");
  CHECK(v["files"] == 50);
  auto ls = ferry_cli({"ls", "--project", "web"}, node.url, node.token, home);
  CHECK(ls.exit_code == 0);
  CHECK_THAT(ls.out, Catch::Contains(id) && Catch::Contains("built"));
  auto inspect = ferry_cli({"inspect", id, "--files"}, node.url, node.token, home);
  CHECK(inspect.exit_code == 0);
  CHECK_THAT(inspect.out, Catch::Contains("d0/sub0/f0.js"));
  auto j = ferry_cli({"inspect", id, "--json"}, node.url, node.token, home);
  CHECK(json::parse(j.out)["id"] == id);
}

TEST_CASE_METHOD(fixture, "a redeploy uploads and reads only what changed") {
  make_tree(tree, 200);
  // Files written within the last 100 ms are not trusted to the stat cache
  // (they may change again within one timestamp tick): let that pass.
  usleep(150000);
  auto first = deploy_json();
  CHECK(first["upload"]["blobs_uploaded"] == 200);
  auto noop = deploy_json();
  CHECK(noop["upload"]["blobs_uploaded"] == 0);
  CHECK(noop["upload"]["bytes_uploaded"] == 0);
  CHECK(noop["upload"]["files_read"] == 0);
  CHECK(noop["upload"]["dir_nodes_uploaded"] == 0);
  CHECK(noop["root"] == first["root"]);
  CHECK(noop["number"] == 2);
  write_file(tree + "/d1/sub1/f1.js", "changed");
  write_file(tree + "/d9/new.js", "new file");
  usleep(150000);
  auto change = deploy_json();
  CHECK(change["upload"]["blobs_uploaded"] == 2);
  CHECK(change["upload"]["files_read"] == 2);
  CHECK(change["upload"]["bytes_uploaded"] == 7 + 8);
  // the changed directories and their ancestors: d1/sub1, d1, d9, root
  CHECK(change["upload"]["dir_nodes_uploaded"] == 4);
  CHECK(change["root"] != first["root"]);
  // content that already exists is not uploaded again, even under a new path
  write_file(tree + "/copy.js", "changed");
  usleep(150000);
  CHECK(deploy_json()["upload"]["blobs_uploaded"] == 0);
}

TEST_CASE_METHOD(fixture, "a new server gets everything even when the stat cache knows the files") {
  make_tree(tree, 30);
  usleep(150000);
  deploy_json();
  tmpdir other;
  ferryd_node fresh{other / "data", other.path()};
  auto r = ferry_cli({"deploy", tree, "--project", "web", "--json"}, fresh.url, fresh.token, home);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto v = json::parse(r.out);
  CHECK(v["upload"]["files_read"] == 0);
  CHECK(v["upload"]["blobs_uploaded"] == 30);
  CHECK(v["state"] == "built");
}

TEST_CASE_METHOD(fixture, ".ferryignore and the defaults leave files out") {
  write_file(tree + "/index.html", "<h1>hi</h1>");
  write_file(tree + "/debug.log", "noise");
  write_file(tree + "/node_modules/x/index.js", "dep");
  write_file(tree + "/.git/HEAD", "ref");
  write_file(tree + "/.ferryignore", "*.log\n");
  auto v = deploy_json();
  CHECK(v["files"] == 1); // index.html (.ferryignore itself stays home too)
}

TEST_CASE_METHOD(fixture, "symlinks inside the tree deploy, escaping ones are refused") {
  write_file(tree + "/a/real.txt", "real");
  REQUIRE(symlink("real.txt", (tree + "/a/ok").c_str()) == 0);
  CHECK(deploy_json()["files"] == 2);
  REQUIRE(symlink("../../outside", (tree + "/a/bad").c_str()) == 0);
  auto r = deploy();
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("points outside the tree"));
  unlink((tree + "/a/bad").c_str());
  REQUIRE(symlink("/etc/passwd", (tree + "/abs").c_str()) == 0);
  r = deploy();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("absolute"));
}

TEST_CASE_METHOD(fixture,
                 "a tree with a FIFO or a device file is refused before anything is uploaded") {
  write_file(tree + "/index.html", "unique content 1234");
  REQUIRE(mkfifo((tree + "/pipe").c_str(), 0644) == 0);
  auto r = deploy();
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("'pipe' is a FIFO"));
  if (mknod((tree + "/null").c_str(), S_IFCHR | 0644, makedev(1, 3)) == 0) { // needs root
    unlink((tree + "/pipe").c_str());
    r = deploy();
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("'null' is a character device"));
  } else {
    WARN("not root: the device file case is skipped");
  }
  auto missing =
      node.api("POST", "/v1/missing", json{{"source", {sha256_hex("unique content 1234")}}}.dump());
  CHECK(json::parse(missing.body)["source"].size() == 1);
  CHECK(node.api("GET", "/v1/projects/web").status == 404);
}

TEST_CASE_METHOD(fixture, "login saves the server and token, and bad usage says how to use it") {
  auto bad = ferry_cli({"login", "--url", node.url}, "", "", home, "fry_wrong\n");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("unauthorized"));
  auto ok = ferry_cli({"login", "--url", node.url}, "", "", home, node.token + "\n");
  INFO(ok.err);
  REQUIRE(ok.exit_code == 0);
  struct stat st;
  REQUIRE(stat((home + "/.config/ferry/config.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto who = ferry_cli({"whoami"}, "", "", home);
  CHECK(who.out == "admin (admin)\n");
  CHECK(ferry_cli({"deploy", "--bogus"}, "", "", home).exit_code == 2);
  CHECK(ferry_cli({"frobnicate"}, "", "", home).exit_code == 2);
  auto help = ferry_cli({"deploy", "--help"}, "", "", home);
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains(".ferryignore"));
  auto nologin = ferry_cli({"ls"}, "", "", dir / "nobody");
  CHECK(nologin.exit_code == 1);
  CHECK_THAT(nologin.err, Catch::Contains("not logged in"));
}

TEST_CASE_METHOD(fixture, "the shipped example project deploys") {
  auto r = ferry_cli(
      {"deploy", std::string(FERRY_SOURCE_DIR) + "/examples/hello", "--project", "hello", "--json"},
      node.url, node.token, home);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto v = json::parse(r.out);
  CHECK(v["state"] == "built"); // deploy follows the build it started
  CHECK(v["files"].get<int>() >= 3);
}
