// The build service through ferryd: a build per seal, followed by deploy,
// cancel within 2 s with nothing left running, no version built twice at
// once, rebuilds without upload, and a failing build reported as such.
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ferry::test;
using json = nlohmann::json;

namespace {

struct fixture {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path(), {"--build-slots", "1"}};
  std::string home = dir / "home";

  fixture() { write_file(home + "/.keep", ""); }

  json build(const std::string& id) {
    auto r = node.api("GET", "/v1/builds/" + id);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }
  /// Waits until the build reaches a state in `states`.
  json wait_for(const std::string& id, std::set<std::string> states, int seconds = 30) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      auto b = build(id);
      if (states.count(b["state"]))
        return b;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("build " << id << " did not reach the state in time");
    return {};
  }
  /// ferry deploy DIR --project NAME --json (not following the build with
  /// wait false); the version's JSON.
  json deploy(const std::string& path, const std::string& project, bool wait = true) {
    std::vector<std::string> args{"deploy", path, "--project", project, "--json"};
    if (!wait)
      args.push_back("--no-wait");
    auto r = ferry_cli(args, node.url, node.token, home);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }
  /// A project whose `npm run build` sleeps (so it can be canceled mid-build).
  std::string slow_project(const std::string& name, int seconds) {
    auto p = dir / name;
    write_file(p + "/package.json", R"({"scripts": {"build": "sleep )" + std::to_string(seconds) +
                                        R"(.77 && mkdir -p dist && echo ok > dist/index.html"}})");
    return p;
  }
};

bool alive(const std::string& marker) {
  auto pattern = "[" + marker.substr(0, 1) + "]" + marker.substr(1);
  return system(("pgrep -f '" + pattern + "' >/dev/null").c_str()) == 0;
}

} // namespace

TEST_CASE_METHOD(fixture, "deploy follows the build it starts and ends with its result") {
  write_file(dir / "ok/index.html", "<p>ok</p>");
  auto r = ferry_cli({"deploy", dir / "ok", "--project", "ok"}, node.url, node.token, home);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("ferry: builder static") && Catch::Contains("built"));
  write_file(dir / "bad/ferry.json", R"({"builder": "nope"})");
  write_file(dir / "bad/index.html", "x");
  auto bad = ferry_cli({"deploy", dir / "bad", "--project", "bad"}, node.url, node.token, home);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("unknown builder") && Catch::Contains("failed"));
  auto id = bad.out.substr(0, bad.out.find('\n'));
  CHECK(json::parse(node.api("GET", "/v1/versions/" + id).body)["state"] == "failed");
}

TEST_CASE_METHOD(fixture,
                 "cancel stops a running build within 2 s and the slot serves the next build") {
  auto v = deploy(slow_project("slow", 41), "slow", false);
  auto id = v["build"].get<std::string>();
  wait_for(id, {"building"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!alive("sleep 41.77") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(alive("sleep 41.77"));
  auto t0 = std::chrono::steady_clock::now();
  auto c = ferry_cli({"cancel", id}, node.url, node.token, home);
  CHECK(c.exit_code == 0);
  auto b = wait_for(id, {"canceled", "failed", "built"}, 5);
  CHECK(b["state"] == "canceled");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK_FALSE(alive("sleep 41.77"));
  CHECK(json::parse(node.api("GET", "/v1/versions/" + v["id"].get<std::string>()).body)["state"] ==
        "canceled");
  // the only slot is wiped and serves the next build
  write_file(dir / "next/index.html", "next");
  auto next = ferry_cli({"deploy", dir / "next", "--project", "next"}, node.url, node.token, home);
  INFO(next.err);
  CHECK(next.exit_code == 0);
  CHECK_THAT(next.err, Catch::Contains("in slot 0"));
  CHECK(node.api("POST", "/v1/builds/" + id + "/cancel").status == 409); // it has ended
}

TEST_CASE_METHOD(fixture,
                 "a version is never built twice at the same time: rebuild needs no upload") {
  auto v = deploy(slow_project("twice", 1), "twice", false);
  auto version = v["id"].get<std::string>();
  auto again = node.api("POST", "/v1/versions/" + version + "/build");
  REQUIRE(again.status == 201);
  CHECK(json::parse(again.body)["id"] == v["build"]); // the running build answers
  auto first = wait_for(v["build"], {"built", "failed"});
  CHECK(first["state"] == "built");
  // now a rebuild is a new build of the same version, from the stored tree
  auto rb = ferry_cli({"rebuild", version}, node.url, node.token, home);
  INFO(rb.err);
  CHECK(rb.exit_code == 0);
  auto second = rb.out.substr(0, rb.out.find('\n'));
  CHECK(second != v["build"]);
  CHECK(build(second)["artifact"] == first["artifact"]); // same source, same output
  auto builds = json::parse(node.api("GET", "/v1/versions/" + version + "/builds").body);
  CHECK(builds["builds"].size() == 2);
  // logs read from any line on
  auto logs = json::parse(node.api("GET", "/v1/builds/" + second + "/logs?from=2").body);
  CHECK(logs["lines"][0]["seq"] == 2);
  CHECK(node.api("GET", "/v1/builds/" + second + "/logs?from=x").status == 400);
}

TEST_CASE_METHOD(fixture, "another user cannot see or cancel a build") {
  write_file(dir / "mine/index.html", "mine");
  auto id = deploy(dir / "mine", "mine")["build"].get<std::string>();
  auto made = node.api("POST", "/v1/users", json{{"name", "eve"}}.dump());
  auto eve = json::parse(made.body)["token"].get<std::string>();
  CHECK(node.api_as(eve, "GET", "/v1/builds/" + id).status == 404);
  CHECK(node.api_as(eve, "GET", "/v1/builds/" + id + "/logs").status == 404);
  CHECK(node.api_as(eve, "POST", "/v1/builds/" + id + "/cancel").status == 404);
}

TEST_CASE_METHOD(fixture, "npm dependencies install once: an unchanged lockfile is a cache hit") {
  auto project = std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/node-fn";
  auto first =
      ferry_cli({"deploy", project, "--project", "fn", "--json"}, node.url, node.token, home);
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.err, Catch::Contains("dependency cache miss") && Catch::Contains("npm ci"));
  auto v = json::parse(first.out);
  auto b1 = build(v["build"]);
  CHECK(b1["artifact_files"].get<int>() >= 7); // the function ships node_modules/is-number
  auto version = v["id"].get<std::string>();

  auto again = ferry_cli({"rebuild", version}, node.url, node.token, home);
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.err, Catch::Contains("dependency cache hit"));
  CHECK(again.err.find("npm ci") == std::string::npos); // nothing installed from the network
  auto b2 = build(again.out.substr(0, again.out.find('\n')));
  CHECK(b2["artifact"] == b1["artifact"]);

  auto fresh = ferry_cli({"rebuild", version, "--no-cache"}, node.url, node.token, home);
  INFO(fresh.err);
  REQUIRE(fresh.exit_code == 0);
  CHECK_THAT(fresh.err, Catch::Contains("--no-cache") && Catch::Contains("npm ci"));
}

TEST_CASE_METHOD(fixture, "ferry download unpacks a version's build output") {
  auto r =
      ferry_cli({"deploy", std::string(FERRY_SOURCE_DIR) + "/examples/hello", "--project", "dl"},
                node.url, node.token, home);
  REQUIRE(r.exit_code == 0);
  auto version = r.out.substr(0, r.out.find('\n'));
  auto out = dir / "dl-out";
  auto d = ferry_cli({"download", version, "-o", out}, node.url, node.token, home);
  INFO(d.err);
  REQUIRE(d.exit_code == 0);
  CHECK_THAT(read_file(out + "/static/index.html"), Catch::Contains("Hello from ferry"));
  CHECK_THAT(read_file(out + "/functions/api/hello.func/.vc-config.json"),
             Catch::Contains("nodejs20.x"));
  CHECK_THAT(read_file(out + "/config.json"), Catch::Contains("\"builder\": \"node\""));
  // not into a directory with something in it
  CHECK(ferry_cli({"download", version, "-o", out}, node.url, node.token, home).exit_code == 1);
  // a version that was never built has no output
  auto v = node.api("POST", "/v1/projects/dl/versions", json{{"files", json::array()}}.dump());
  auto unbuilt = json::parse(v.body)["id"].get<std::string>();
  CHECK(node.api("GET", "/v1/versions/" + unbuilt + "/artifact").status == 404);
}

TEST_CASE_METHOD(fixture, "builds and their logs survive a restart: one cut by kill -9 is failed") {
  write_file(dir / "keep/index.html", "keep");
  auto done = deploy(dir / "keep", "keep")["build"].get<std::string>();
  auto before = json::parse(node.api("GET", "/v1/builds/" + done + "/logs").body)["lines"];
  auto cut = deploy(slow_project("cut", 43), "cut", false)["build"].get<std::string>();
  wait_for(cut, {"building"});
  node.kill9();
  node.start();
  auto b = build(done);
  CHECK(b["state"] == "built");
  auto after = json::parse(node.api("GET", "/v1/builds/" + done + "/logs").body)["lines"];
  CHECK(after == before);
  auto c = build(cut);
  CHECK(c["state"] == "failed");
  CHECK_THAT(c["error"].get<std::string>(), Catch::Contains("interrupted"));
  CHECK_FALSE(alive("sleep 43.77")); // the sandbox died with the node
}

TEST_CASE_METHOD(fixture,
                 "cancel during a dependency install stops it within 2 s and frees the slot") {
  // A registry that accepts and never answers: npm ci hangs in the install
  // step. The operator lists it (a loopback mirror) for the egress path.
  int listening = 0;
  int srv = listen_loopback(listening);
  auto port = std::to_string(listening);
  write_file(dir / "mirror.conf", "egress_allow = 127.0.0.1:" + port +
                                      "\negress_private_ranges = 127.0.0.0/8\n[node local]\n"
                                      "api = 127.0.0.1:0\nroles = api, storage, build, deploy\n");
  node.terminate();
  node.set_args({"--build-slots", "1", "--config", dir / "mirror.conf"});
  node.start();
  auto p = dir / "stall";
  write_file(p + "/package.json",
             R"({"name":"stall","version":"1.0.0","dependencies":{"ferry-stall":"1.0.0"}})");
  write_file(p + "/package-lock.json",
             R"({"name":"stall","version":"1.0.0","lockfileVersion":3,"requires":true,
"packages":{"":{"name":"stall","version":"1.0.0","dependencies":{"ferry-stall":"1.0.0"}},
"node_modules/ferry-stall":{"version":"1.0.0","resolved":"http://127.0.0.1:)" +
                 port +
                 R"(/ferry-stall-1.0.0.tgz",
"integrity":"sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}}})");
  write_file(p + "/index.html", "x");
  auto id = deploy(p, "stall", false)["build"].get<std::string>();
  // wait until npm is fetching from the stalled registry
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool fetching = false;
  while (!fetching && std::chrono::steady_clock::now() < deadline) {
    sockaddr_in peer{};
    socklen_t plen = sizeof peer;
    timeval tv{0, 100000};
    setsockopt(srv, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int c = accept(srv, reinterpret_cast<sockaddr*>(&peer), &plen);
    if (c >= 0)
      fetching = true; // keep it open and silent
  }
  REQUIRE(fetching);
  CHECK(alive("npm ci"));
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(node.api("POST", "/v1/builds/" + id + "/cancel").status == 200);
  auto b = wait_for(id, {"canceled", "failed", "built"}, 5);
  CHECK(b["state"] == "canceled");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK_FALSE(alive("npm ci"));
  close(srv);
  write_file(dir / "after/index.html", "after");
  auto next =
      ferry_cli({"deploy", dir / "after", "--project", "after"}, node.url, node.token, home);
  INFO(next.err);
  CHECK(next.exit_code == 0);
  CHECK_THAT(next.err, Catch::Contains("in slot 0"));
}

TEST_CASE("ferry logs --follow rides out a restart of ferryd and resumes where it was") {
  tmpdir dir;
  auto listen_at = "127.0.0.1:" + std::to_string(free_port());
  ferryd_node node{dir / "data", dir.path(), {"--listen", listen_at}};
  auto home = dir / "home";
  write_file(home + "/.keep", "");
  write_file(dir / "p/package.json",
             R"({"scripts": {"build": "echo step-one && sleep 44.77 && mkdir -p dist"}})");
  auto r = ferry_cli({"deploy", dir / "p", "--project", "follow", "--no-wait"}, node.url,
                     node.token, home);
  REQUIRE(r.exit_code == 0);
  auto version = r.out.substr(0, r.out.find('\n'));
  process follow({FERRY_BIN, "logs", version, "--follow"},
                 {{"FERRY_URL", node.url}, {"FERRY_TOKEN", node.token}, {"HOME", home}},
                 dir.path());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  // the log is the command's data: on stdout
  while (follow.out().find("step-one") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(follow.out().find("step-one") != std::string::npos);
  node.kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(700)); // the follower retries meanwhile
  node.start();
  run_result out;
  REQUIRE(follow.wait(std::chrono::seconds(20), &out));
  CHECK(out.exit_code == 1); // the build did not survive the restart
  CHECK_THAT(out.out, Catch::Contains("interrupted"));
  CHECK_THAT(out.err, Catch::Contains("failed"));
  // every line once: the follower resumed from the line it had reached
  auto first = out.out.find("| step-one\n");
  REQUIRE(first != std::string::npos);
  CHECK(out.out.find("| step-one\n", first + 1) == std::string::npos);
}

TEST_CASE_METHOD(fixture, "each fixture project deploys into an artifact whose files are right") {
  struct expect {
    std::string fixture;
    std::vector<std::pair<std::string, std::string>> files; // path, text it contains
    std::vector<std::string> absent;
  };
  std::vector<expect> cases{
      {"static-site",
       {{"static/index.html", "static fixture"}, {"static/css/site.css", "sans-serif"}},
       {"static/NOTES.md"}},
      {"node-fn",
       {{"functions/api/check.func/.vc-config.json", "\"handler\": \"api/check.js\""},
        {"functions/api/check.func/node_modules/is-number/package.json", "\"version\": \"7.0.0\""},
        {"config.json", "\"version\": 3"}}, // (a function at its path needs no route)
       {}},
      {"ts-fn",
       {{"functions/api/greet.func/api/greet.js", "exports.default = handler"},
        {"functions/api/greet.func/.vc-config.json", "\"handler\": \"api/greet.js\""}},
       {"functions/api/greet.func/node_modules/typescript"}},
      {"build-site",
       {{"static/index.html", "<h1>Welcome</h1>"}, {"static/about.html", "<h1>About</h1>"}},
       {"static/build.js"}},
  };
  for (auto& c : cases) {
    INFO(c.fixture);
    auto r = ferry_cli({"deploy", std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/" + c.fixture,
                        "--project", c.fixture},
                       node.url, node.token, home);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto version = r.out.substr(0, r.out.find('\n'));
    auto out = dir / ("out-" + c.fixture);
    REQUIRE(ferry_cli({"download", version, "-o", out}, node.url, node.token, home).exit_code == 0);
    for (auto& [path, text] : c.files)
      CHECK_THAT(read_file(out + "/" + path), Catch::Contains(text));
    for (auto& path : c.absent)
      CHECK_FALSE(std::filesystem::exists(out + "/" + path));
  }
}

TEST_CASE_METHOD(fixture,
                 "killing the build scheduler stops its builds and gives their slots back") {
  auto id = deploy(slow_project("orphan", 45), "orphan", false)["build"].get<std::string>();
  wait_for(id, {"building"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!alive("sleep 45.77") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(alive("sleep 45.77"));
  REQUIRE(node.api("POST", "/v1/admin/actors/builder/kill").status == 200);
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (alive("sleep 45.77") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(alive("sleep 45.77"));
  // the restarted scheduler reports the build as interrupted, and the only slot works
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  json b;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = node.api("GET", "/v1/builds/" + id);
    if (got.status == 200 && (b = json::parse(got.body))["state"] == "failed")
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(b["state"] == "failed");
  write_file(dir / "later/index.html", "later");
  auto next =
      ferry_cli({"deploy", dir / "later", "--project", "later"}, node.url, node.token, home);
  INFO(next.err);
  CHECK(next.exit_code == 0);
}

TEST_CASE_METHOD(fixture,
                 "pnpm, yarn classic, yarn berry and npm without a lockfile install what the "
                 "build needs, each cached by its lockfile") {
  // each build.js requires is-number: without the install, the build fails
  struct pm {
    const char* dir;
    const char* says;
  };
  const pm managers[] = {
      {"pnpm", "ferry: pnpm install (pnpm@9.15.9, pnpm-lock.yaml)"}, // packageManager
      {"yarn", "ferry: yarn install (yarn@1.22.22, yarn.lock)"},
      {"berry", "ferry: yarn install (@yarnpkg/cli-dist@4, yarn.lock)"},
      {"none", "ferry: npm install"},
  };
  auto port = node.router_url.substr(node.router_url.rfind(':'));
  std::string pnpm_version;
  for (auto& m : managers) {
    auto src = std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/package-managers/" + m.dir;
    auto project = std::string("pm-") + m.dir;
    auto r = ferry_cli({"deploy", src, "--project", project, "--prod", "--json"}, node.url,
                       node.token, home);
    INFO(m.dir << ":\n" << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains(m.says) && Catch::Contains("dependency cache miss"));
    auto page = http("GET", "http://" + project + ".ferry.localhost" + port + "/");
    CHECK(page.status == 200);
    CHECK(page.body == "installed: true 7.0.0\n");
    if (std::string(m.dir) == "pnpm")
      pnpm_version = json::parse(r.out)["id"].get<std::string>();
  }
  // a rebuild with the same lockfile installs nothing
  auto again = ferry_cli({"rebuild", pnpm_version}, node.url, node.token, home);
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.err, Catch::Contains("dependency cache hit (pnpm-"));
  CHECK(again.err.find("pnpm install") == std::string::npos);
}

TEST_CASE_METHOD(fixture, "a project with a bun lockfile fails its build and says why") {
  write_file(dir / "bun/package.json", R"({"dependencies": {"is-number": "7.0.0"}})");
  write_file(dir / "bun/bun.lockb", "\x01\x02");
  write_file(dir / "bun/index.html", "x");
  auto r = ferry_cli({"deploy", dir / "bun", "--project", "bun"}, node.url, node.token, home);
  INFO(r.err);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("bun is not supported") &&
                        Catch::Contains("package-lock.json, pnpm-lock.yaml or yarn.lock"));
}

TEST_CASE_METHOD(fixture,
                 "vercel.json's installCommand, buildCommand, outputDirectory and functions (with "
                 "includeFiles and excludeFiles) are used, pnpm in them included, and api/ ships "
                 "next to a built site") {
  auto src = std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/vercel-config";
  auto r = ferry_cli({"deploy", src, "--project", "vconf", "--prod"}, node.url, node.token, home);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("ferry: installCommand: pnpm install --frozen-lockfile") &&
                        Catch::Contains("ferry: static-build: pnpm compile") &&
                        Catch::Contains("serving site/"));
  auto port = node.router_url.substr(node.router_url.rfind(':'));
  auto base = "http://vconf.ferry.localhost" + port;
  CHECK(http("GET", base + "/").body == "built by pnpm compile: true\n");
  auto api = http("GET", base + "/api/hello");
  CHECK(api.status == 200);
  // (includeFiles: the data the build made; excludeFiles: not the build script)
  CHECK(api.body == R"({"hello":"from api","number":true,"generated":42,"buildScript":false})");
}

TEST_CASE_METHOD(fixture, "what ferry cannot serve yet fails the build and says what and why") {
  struct refused {
    const char* name;
    const char* file;
    const char* text;
    const char* says;
    const char* other_file = nullptr; ///< and a second file, if any
    const char* other_text = nullptr;
  };
  const char* gatsby =
      R"({"dependencies": {"gatsby": "5.16.1"}, "scripts": {"build": "gatsby build"}})";
  const refused cases[] = {
      {"gatsby-functions", "src/api/hello.js",
       "export default function handler(req, res) { res.send('hi') }",
       "Gatsby Functions (src/api/): not supported by ferry yet", "package.json", gatsby},
      {"gatsby-ssr", "src/pages/index.js",
       "export default function Page({ serverData }) { return null }\n"
       "export async function getServerData() { return { props: {} } }",
       "Gatsby SSR (getServerData in src/pages/index.js): not supported", "package.json", gatsby},
      {"gatsby-dsg", "src/templates/post.js",
       "export default function Post() { return null }\n"
       "export async function config() { return () => ({ defer: true }) }",
       "Gatsby DSG (defer in src/templates/post.js): not supported", "package.json", gatsby},
      {"sveltekit", "package.json",
       R"({"devDependencies": {"@sveltejs/kit": "2.0.0", "@sveltejs/adapter-vercel": "5.0.0"},
           "scripts": {"build": "vite build"}})",
       "SvelteKit with a platform adapter (vercel, netlify, cloudflare): not supported"},
      {"crons", "vercel.json", R"({"crons": [{"path": "/api/daily", "schedule": "0 5 * * *"}]})",
       "crons in vercel.json: not supported by ferry yet"},
      {"middleware", "middleware.js",
       "export default function middleware() {}\nexport const config = { matcher: '/(x(?=y).*)' }",
       "middleware.js: config.matcher: ^(?:\\/(x(?=y).*))$ uses look-around"},
      {"framework", "vercel.json", R"({"framework": "blitzjs"})",
       "framework \"blitzjs\" (vercel.json) is not one ferry knows"},
  };
  for (auto& c : cases) {
    auto p = dir / (std::string("refused-") + c.name);
    write_file(p + "/index.html", "<p>site</p>");
    // (nothing to install: the refusal comes from the build)
    write_file(p + "/ferry.json", R"({"installCommand": ""})");
    write_file(p + "/" + c.file, c.text);
    if (c.other_file)
      write_file(p + "/" + c.other_file, c.other_text);
    auto r = ferry_cli({"deploy", p, "--project", std::string("refused-") + c.name}, node.url,
                       node.token, home);
    INFO(c.name << ":\n" << r.err);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains(c.says));
  }
}

TEST_CASE_METHOD(fixture,
                 "a function that asks for the Edge runtime runs on Node with the Web APIs") {
  auto p = dir / "edge";
  write_file(p + "/api/geo.js", R"(
export const config = { runtime: 'edge' };
export default async function handler(request, context) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode('ferry'));
  return Response.json({ path: new URL(request.url).pathname, bytes: digest.byteLength,
                         waits: typeof context.waitUntil });
})");
  write_file(p + "/package.json", R"({"type": "module"})");
  auto r = ferry_cli({"deploy", p, "--project", "edge", "--prod"}, node.url, node.token, home);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("asks for the Edge runtime: it runs on Node.js"));
  auto port = node.router_url.substr(node.router_url.rfind(':'));
  auto got = http("GET", "http://edge.ferry.localhost" + port + "/api/geo");
  INFO(got.body);
  REQUIRE(got.status == 200);
  auto j = json::parse(got.body);
  CHECK(j["path"] == "/api/geo");
  CHECK(j["bytes"] == 32);
  CHECK(j["waits"] == "function");
}

TEST_CASE_METHOD(fixture,
                 "a prebuilt .vercel/output deploys as it is: no install, no build, its files and "
                 "functions served, a linked .func included") {
  auto src = std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/prebuilt";
  auto r = ferry_cli({"deploy", src, "--project", "pre", "--prod"}, node.url, node.token, home);
  INFO(r.err);
  REQUIRE(r.exit_code == 0); // (its package.json names a package that does not exist, and
                             // its build script fails: neither ran)
  CHECK_THAT(r.err, Catch::Contains("ferry: builder prebuilt") &&
                        Catch::Contains("function api/again (nodejs20.x) at /api/again"));
  CHECK(r.err.find("dependency cache") == std::string::npos);
  auto port = node.router_url.substr(node.router_url.rfind(':'));
  auto base = "http://pre.ferry.localhost" + port;
  CHECK(http("GET", base + "/").body == "<p>prebuilt home</p>\n");
  CHECK(http("GET", base + "/about").body == "<p>about</p>\n");
  CHECK(json::parse(http("GET", base + "/api/hello?x=1").body)["from"] == "prebuilt function");
  CHECK(json::parse(http("GET", base + "/api/again").body)["url"] == "/api/again");
  CHECK(http("GET", base + "/README.md").status == 404); // only the output is served

  // its routes: a redirect, headers on the way, a rewrite with a named
  // group, the error phase's page; its overrides: a path and a type
  auto curl = [&](const std::string& path) {
    return run({"/usr/bin/curl", "-s", "-i", base + path}, {}, dir.path()).out;
  };
  CHECK_THAT(curl("/old"),
             Catch::StartsWith("HTTP/1.1 308") && Catch::Contains("location: /about"));
  CHECK_THAT(curl("/assets/app.js"),
             Catch::StartsWith("HTTP/1.1 200") &&
                 Catch::Contains("cache-control: public, immutable, max-age=31536000"));
  CHECK(json::parse(http("GET", base + "/greet/ann").body)["url"] == "/greet/ann?name=ann");
  auto missing = http("GET", base + "/nope");
  CHECK(missing.status == 404);
  CHECK(missing.body == "<p>prebuilt 404</p>\n");
  CHECK(http("GET", base + "/about.html").status == 404); // (served at /about only)
  CHECK_THAT(curl("/data.txt"),
             Catch::Contains("content-type: text/csv", Catch::CaseSensitive::No));

  // what the router cannot run fails the build and says what
  auto p = dir / "lookahead";
  write_file(p + "/.vercel/output/config.json",
             R"({"version": 3, "routes": [{"handle": "filesystem"},
                 {"src": "/(?!api/).*", "dest": "/index.html"}]})");
  write_file(p + "/.vercel/output/static/index.html", "home");
  auto bad = ferry_cli({"deploy", p, "--project", "prelook"}, node.url, node.token, home);
  INFO(bad.err);
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.err, Catch::Contains("routes[1]") && Catch::Contains("look-around"));
}
