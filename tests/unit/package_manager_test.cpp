// Which package manager installs a project, and how (the way Vercel and
// corepack choose): from package.json's packageManager, else the lockfile.
#include "sandbox/package_manager.hpp"

#include <catch2/catch.hpp>

using namespace ferry::sandbox;

namespace {

const std::string deps = R"({"dependencies": {"is-number": "7.0.0"}})";

std::optional<install_plan> plan(const install_files& f) {
  std::optional<install_plan> out;
  auto why = plan_install(f, out);
  INFO(why);
  REQUIRE(why.empty());
  return out;
}

std::string refusal(const install_files& f) {
  std::optional<install_plan> out;
  auto why = plan_install(f, out);
  CHECK_FALSE(out);
  return why;
}

} // namespace

TEST_CASE("the lockfile there chooses the package manager") {
  install_files f;
  f.package_json = deps;
  f.package_lock = R"({"lockfileVersion": 3, "packages": {}})";
  auto npm = plan(f);
  REQUIRE(npm);
  CHECK(npm->manager == "npm");
  CHECK(npm->package.empty()); // the host's npm
  CHECK(npm->lockfile == "package-lock.json");
  CHECK(npm->frozen);
  CHECK(npm->key.starts_with("npm-"));
  CHECK(is_dep_cache_key(npm->key));

  f.package_lock.reset();
  f.pnpm_lock = "lockfileVersion: '9.0'\n\nimporters: {}\n";
  auto pnpm = plan(f);
  CHECK(pnpm->manager == "pnpm");
  CHECK(pnpm->package == "pnpm@9");
  CHECK(pnpm->lockfile == "pnpm-lock.yaml");
  f.pnpm_lock = "lockfileVersion: '6.0'\n";
  CHECK(plan(f)->package == "pnpm@8");
  f.pnpm_lock = "lockfileVersion: 5.4\n";
  CHECK(plan(f)->package == "pnpm@7");

  f.pnpm_lock.reset();
  f.yarn_lock = "# yarn lockfile v1\n\nis-number@7.0.0:\n  version \"7.0.0\"\n";
  auto classic = plan(f);
  CHECK(classic->manager == "yarn");
  CHECK(classic->package == "yarn@1.22.22");
  f.yarn_lock = "__metadata:\n  version: 8\n  cacheKey: 10c0\n";
  auto berry = plan(f);
  CHECK(berry->manager == "berry");
  CHECK(berry->package == "@yarnpkg/cli-dist@4");
  CHECK(berry->lockfile == "yarn.lock");
  CHECK_FALSE(berry->frozen); // (the latest yarn may update the lockfile's format)

  // yarn.lock before pnpm-lock.yaml before package-lock.json (Vercel's order)
  f.pnpm_lock = "lockfileVersion: '9.0'\n";
  f.package_lock = "{}";
  CHECK(plan(f)->manager == "berry");
  f.yarn_lock.reset();
  CHECK(plan(f)->manager == "pnpm");
}

TEST_CASE("packageManager in package.json chooses the manager and its version") {
  install_files f;
  f.package_json = R"({"packageManager": "pnpm@8.15.4", "dependencies": {"a": "1"}})";
  f.pnpm_lock = "lockfileVersion: '6.0'\n";
  f.yarn_lock = "# yarn lockfile v1\n";
  auto p = plan(f);
  CHECK(p->manager == "pnpm");
  CHECK(p->package == "pnpm@8.15.4");
  CHECK(p->lockfile == "pnpm-lock.yaml");

  // corepack's hash suffix; yarn 2 and later are berry
  f.package_json =
      R"({"packageManager": "yarn@4.5.3+sha512.3003a14012e2987072d244c720506549c1aab73ee728208f1b2580a9fd67b92d61ba6b08fe93f6dce68fd771e3af1e59a0afa28dd242dd0940d73b95fedd4e90"})";
  p = plan(f);
  CHECK(p->manager == "berry");
  CHECK(p->package == "@yarnpkg/cli-dist@4.5.3");
  CHECK(p->frozen); // (that very version: --immutable)
  f.package_json = R"({"packageManager": "yarn@1.22.19"})";
  CHECK(plan(f)->package == "yarn@1.22.19");

  // named, but without its lockfile: resolved afresh
  f.package_json = R"({"packageManager": "pnpm@9.1.0", "dependencies": {"a": "1"}})";
  f.pnpm_lock.reset();
  p = plan(f);
  CHECK(p->manager == "pnpm");
  CHECK(p->lockfile.empty());
  CHECK_FALSE(p->frozen);

  for (auto* bad : {R"({"packageManager": "bun@1.1.0"})", R"({"packageManager": "pnpm"})",
                    R"({"packageManager": "pnpm@latest"})", R"({"packageManager": 3})",
                    R"({"packageManager": "pnpm@9.0.0; rm -rf /"})"}) {
    f.package_json = bad;
    CHECK_THAT(refusal(f), Catch::Contains("packageManager"));
  }
}

TEST_CASE("without a lockfile, dependencies are installed with npm install: none, nothing") {
  install_files f;
  f.package_json = deps;
  auto p = plan(f);
  REQUIRE(p);
  CHECK(p->manager == "npm");
  CHECK(p->lockfile.empty());
  auto key = p->key;
  // the cache follows package.json
  f.package_json = R"({"dependencies": {"is-number": "7.0.1"}})";
  CHECK(plan(f)->key != key);

  f.package_json = R"({"name": "x", "scripts": {"build": "echo hi"}})";
  CHECK_FALSE(plan(f));
  f.package_json = R"({"dependencies": {}})";
  CHECK_FALSE(plan(f));
  install_files none;
  CHECK_FALSE(plan(none));
}

TEST_CASE("an install that cannot be done says why") {
  install_files f;
  f.package_json = "[1, 2]";
  CHECK_THAT(refusal(f), Catch::Contains("package.json"));
  f.package_json = "{not json";
  CHECK_THAT(refusal(f), Catch::Contains("package.json"));

  f.package_json = deps;
  f.bun_lock = true;
  CHECK_THAT(refusal(f), Catch::Contains("bun"));

  // git dependencies would run code while they install
  f.bun_lock = false;
  f.pnpm_lock =
      "lockfileVersion: '9.0'\npackages:\n  x@git+https://github.com/a/b.git#abc:\n"
      "    resolution: {commit: abc, repo: https://github.com/a/b.git, type: git}\n";
  CHECK_THAT(refusal(f), Catch::Contains("pnpm-lock.yaml has a git dependency"));
  f.pnpm_lock.reset();
  f.yarn_lock =
      "# yarn lockfile v1\n\"b@github:a/b\":\n  resolved "
      "\"https://codeload.github.com/a/b/tar.gz/abc\"\n";
  CHECK_THAT(refusal(f), Catch::Contains("yarn.lock has a git dependency"));
  f.yarn_lock.reset();
  f.package_json = R"({"dependencies": {"b": "git+https://github.com/a/b.git"}})";
  CHECK_THAT(refusal(f), Catch::Contains("package.json"));
}

TEST_CASE("a dependency cache key names a manager and a SHA-256, nothing else") {
  auto hex = std::string(64, 'a');
  for (auto* m : {"npm-", "pnpm-", "yarn-", "berry-"})
    CHECK(is_dep_cache_key(m + hex));
  CHECK_FALSE(is_dep_cache_key("bun-" + hex));
  CHECK_FALSE(is_dep_cache_key("npm-" + hex.substr(1)));
  CHECK_FALSE(is_dep_cache_key("npm-" + std::string(64, 'A')));
  CHECK_FALSE(is_dep_cache_key("npm-../" + hex.substr(3)));
  CHECK_FALSE(is_dep_cache_key("npm-" + hex + ".tmp"));
  CHECK_FALSE(is_dep_cache_key(""));
}

TEST_CASE("installCommand (ferry.json over vercel.json) replaces the package manager's install") {
  install_files f;
  f.package_json = deps;
  f.pnpm_lock = "lockfileVersion: '9.0'\n";
  f.vercel_json = R"({"installCommand": "pnpm install --no-optional"})";
  auto p = plan(f);
  REQUIRE(p);
  CHECK(p->manager == "custom");
  CHECK(p->command == "pnpm install --no-optional");
  CHECK(is_dep_cache_key(p->key));
  auto key = p->key;
  f.pnpm_lock = "lockfileVersion: '9.0'\nchanged: yes\n";
  CHECK(plan(f)->key != key); // (the cache follows the lockfiles too)

  f.ferry_json = R"({"installCommand": "npm ci --legacy-peer-deps"})";
  CHECK(plan(f)->command == "npm ci --legacy-peer-deps");
  f.ferry_json = R"({"installCommand": ""})"; // no install at all
  CHECK_FALSE(plan(f));
  f.ferry_json = R"({"installCommand": null})"; // (as if unset: vercel.json's)
  CHECK(plan(f)->command == "pnpm install --no-optional");

  f.ferry_json = R"({"installCommand": ["npm", "ci"]})";
  CHECK_THAT(refusal(f), Catch::Contains("installCommand is a string"));
  f.ferry_json = "[]";
  CHECK_THAT(refusal(f), Catch::Contains("ferry.json is not a JSON object"));
}

TEST_CASE(
    "the managers' settings name the cache, berry's git references are refused, and an "
    "installCommand's pnpm is packageManager's") {
  install_files f;
  f.package_json = deps;
  f.pnpm_lock = "lockfileVersion: '9.0'\n";
  auto plain = plan(f)->key;
  f.settings = std::string(".npmrc") + '\0' + "registry=https://mirror.example/\n" + '\0';
  CHECK(plan(f)->key != plain);

  install_files b;
  b.package_json = deps;
  b.yarn_lock = "__metadata:\n  version: 8\n\"y@https://github.com/a/y.git#commit=abc\":\n";
  CHECK_THAT(refusal(b), Catch::Contains("yarn.lock has a git dependency"));

  install_files c;
  c.package_json = R"({"packageManager": "yarn@4.5.3", "dependencies": {"a": "1"}})";
  c.ferry_json = R"({"installCommand": "yarn install"})";
  auto p = plan(c);
  CHECK(p->manager == "custom");
  CHECK(p->package == "@yarnpkg/cli-dist@4.5.3");
  c.package_json = R"({"packageManager": "pnpm@8.15.4"})";
  CHECK(plan(c)->package == "pnpm@8.15.4");
}

TEST_CASE("a prebuilt .vercel/output installs nothing") {
  install_files f;
  f.package_json = deps;
  f.pnpm_lock = "lockfileVersion: '9.0'\n";
  f.ferry_json = R"({"installCommand": "pnpm install"})";
  f.prebuilt = true;
  CHECK_FALSE(plan(f));
}

TEST_CASE("a SvelteKit app on adapter-auto gets adapter-node as well, in its cache key") {
  install_files f;
  f.package_json = R"({"devDependencies": {"@sveltejs/kit": "^2.63.0",
                       "@sveltejs/adapter-auto": "^7.0.1", "vite": "^7.0.0"}})";
  f.package_lock = R"({"lockfileVersion": 3})";
  auto p = plan(f);
  REQUIRE(p);
  CHECK(p->extras == "@sveltejs/adapter-node@5");
  auto kit3 = f;
  kit3.package_json = R"({"devDependencies": {"@sveltejs/kit": "^3.0.0",
                          "@sveltejs/adapter-auto": "^8.0.0"}})";
  CHECK(plan(kit3)->extras == "@sveltejs/adapter-node@6");
  // its own adapter: nothing added, and another cache
  auto own = f;
  own.package_json = R"({"devDependencies": {"@sveltejs/kit": "^2.63.0",
                         "@sveltejs/adapter-node": "^5.0.0", "vite": "^7.0.0"}})";
  auto q = plan(own);
  REQUIRE(q);
  CHECK(q->extras.empty());
  CHECK(q->key != p->key);
}
