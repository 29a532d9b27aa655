// What a project's root never serves (issue 11, point 6): a tenant who
// deploys a project without an output folder (no public/) does not publish
// its .env, its git metadata, node_modules, lockfiles or package.json, even
// when they reach the build; and the CLI does not upload .env files.
#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

using namespace ferry::test;

namespace {

/// A project root with every kind of file that should stay private.
void write_private_files(const std::string& p) {
  write_file(p + "/index.html", "<p>home</p>");
  write_file(p + "/css/app.css", "body{}");
  write_file(p + "/.well-known/security.txt", "Contact: a@b");
  write_file(p + "/.env", "DB_PASSWORD=Tr0ub4dor&3\n");
  write_file(p + "/.env.production", "API_KEY=prod-key-123\n");
  write_file(p + "/.npmrc", "registry=https://registry.npmjs.org/\n");
  write_file(p + "/.git/config", "[core]\n");
  write_file(p + "/.secrets/key.pem", "-----BEGIN-----");
  write_file(p + "/node_modules/dep/index.js", "module.exports = 1");
  write_file(p + "/package.json", R"({"name": "site"})");
  write_file(p + "/yarn.lock", "# yarn lockfile v1\n");
  write_file(p + "/pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
  write_file(p + "/vercel.json", "{}");
  write_file(p + "/ferry.json", "{}");
}

const char* const never_served[] = {
    "/.env",         "/.env.production",  "/.npmrc",
    "/.git/config",  "/.secrets/key.pem", "/node_modules/dep/index.js",
    "/package.json", "/yarn.lock",        "/pnpm-lock.yaml",
    "/vercel.json",  "/ferry.json"};

} // namespace

TEST_CASE(
    "a static project's root never serves its dotfiles, node_modules, lockfiles or "
    "package.json, even uploaded",
    "[security]") {
  tenant_cluster c;
  auto token = c.add_user("site");
  auto p = c.dir / "site";
  write_private_files(p);
  // the tenant uploads them on purpose: the builder still leaves them out
  write_file(p + "/.ferryignore", "!.env\n!.env.*\n!node_modules/\n!.git\n");
  auto url = c.deploy_ok(p, "site", token);
  CHECK(fetch(url + "/").body == "<p>home</p>");
  CHECK(fetch(url + "/css/app.css").status == 200);
  CHECK(fetch(url + "/.well-known/security.txt").status == 200);
  for (auto* path : never_served) {
    auto r = fetch(url + path);
    INFO(path << ": " << r.status << " " << r.body);
    CHECK(r.status == 404);
    CHECK(r.body.find("Tr0ub4dor") == std::string::npos);
  }
}

TEST_CASE(
    "ferry deploy leaves .env files out and says so: a Node project without public/ "
    "serves none of them either",
    "[security]") {
  tenant_cluster c;
  auto token = c.add_user("app");
  auto p = c.dir / "app";
  write_private_files(p);
  write_file(p + "/api/hello.js", "module.exports = (req, res) => res.end('hello');");
  auto r = c.deploy(p, "app", token);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err,
             Catch::Contains("left out .env, .env.production") && Catch::Contains("ferry env add"));
  auto url = r.out.substr(0, r.out.find('\n'));
  REQUIRE(url.rfind("http://", 0) == 0);
  CHECK(fetch(url + "/api/hello").body == "hello");
  CHECK(fetch(url + "/index.html").status == 200);
  for (auto* path : never_served) {
    auto got = fetch(url + path);
    INFO(path << ": " << got.status << " " << got.body);
    CHECK(got.status == 404);
  }
  // and the .env never reached the server: not in the version's files
  auto v = c.newest_version("app", token);
  auto files =
      ferry_cli({"inspect", v["id"].get<std::string>(), "--files"}, c.node->url, token, c.home);
  REQUIRE(files.exit_code == 0);
  CHECK_THAT(files.out, Catch::Contains("api/hello.js"));
  CHECK(files.out.find(".env") == std::string::npos);
}
