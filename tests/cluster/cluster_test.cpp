// A cluster of real ferryd processes on loopback: three nodes that all
// store, build and serve, the first also answering the API.
#include "storage/blob_store.hpp"
#include "storage/sha256.hpp"
#include "tests/cluster/cluster.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <future>
#include <set>
#include <iostream>
#include <thread>

using namespace ferry;
using namespace ferry::test;
using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST_CASE("a deploy through the API is stored on two of three nodes and served by every node") {
  cluster c(3);
  // a static site of 30 files, each different
  tmpdir home;
  std::vector<std::string> hashes;
  for (int i = 0; i < 30; ++i) {
    auto body = "page " + std::to_string(i) + " " + std::string(1000 + i * 37, 'x');
    write_file(c.dir / "site/public/p" + std::to_string(i) + ".html", body);
    hashes.push_back(sha256_hex(body));
  }
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.deployed(c.dir / "site", {"--project", "site", "--prod"}, home.path());
  auto ms = ms_since(t0);
  std::cout << "cluster: deploy of 30 files on 3 nodes (R=2), built: " << ms << " ms\n";
  auto url = r.out.substr(0, r.out.find('\n'));
  auto host = url.substr(7, url.rfind(':') - 7);

  // every node's router answers for the deployment and for production
  for (auto& n : c.nodes) {
    REQUIRE_FALSE(n->router_url.empty());
    auto page = http("GET", "http://" + host + port_of(n->router_url) + "/p7.html");
    INFO(n->data_dir << ": " << page.body.substr(0, 200));
    CHECK(page.status == 200);
    CHECK(page.body.rfind("page 7 ", 0) == 0);
    auto prod = http("GET", "http://site.ferry.localhost" + port_of(n->router_url) + "/p3.html");
    CHECK(prod.status == 200);
    CHECK(prod.body.rfind("page 3 ", 0) == 0);
  }

  // killed (-9: what was acknowledged is on disk), each node's store is read
  // directly: every file is on exactly two
  for (auto& n : c.nodes)
    n->kill9();
  std::map<std::string, int> copies;
  std::vector<blob_ref> refs;
  for (auto& h : hashes)
    refs.push_back(blob_ref{0, h});
  for (auto& n : c.nodes) {
    auto store = open_rocksdb_blob_store(n->data_dir + "/cas");
    REQUIRE(store);
    auto missing = (*store)->find_missing(refs);
    REQUIRE(missing);
    std::vector<bool> absent(refs.size(), false);
    for (auto m : *missing)
      absent[m] = true;
    int held = 0;
    for (size_t i = 0; i < refs.size(); ++i)
      if (!absent[i]) {
        ++copies[refs[i].hash];
        ++held;
      }
    std::cout << "cluster: " << n->data_dir.substr(n->data_dir.rfind('/') + 1) << " holds " << held
              << " of " << refs.size() << " files\n";
    CHECK(held > 5); // (spread: no node holds nearly none)
  }
  for (auto& h : hashes) {
    INFO(h);
    CHECK(copies[h] == 2);
  }
}

TEST_CASE("with a storage node killed, deploys go on and every file stays readable") {
  cluster c(3, "failure_timeout_ms = 1000");
  tmpdir home;
  for (int i = 0; i < 20; ++i)
    write_file(c.dir / "site/public/a" + std::to_string(i) + ".txt",
               "first " + std::to_string(i) + std::string(500, 'y'));
  auto first = c.deployed(c.dir / "site", {"--project", "site", "--prod"}, home.path());

  c.nodes[2]->kill9();
  auto t0 = std::chrono::steady_clock::now();
  while (c.view()["node3"] && std::chrono::steady_clock::now() - t0 < 5s)
    std::this_thread::sleep_for(20ms);
  auto detect = ms_since(t0);
  std::cout << "cluster: node3 killed, seen down by the API node after " << detect << " ms\n";
  CHECK_FALSE(c.view()["node3"]);
  CHECK(detect < 1500);

  // what was on node3 is read from its other copy; a new deploy writes two
  for (auto& n : {c.nodes[0].get(), c.nodes[1].get()})
    for (int i = 0; i < 20; ++i) {
      auto page = http("GET", "http://site.ferry.localhost" + port_of(n->router_url) + "/a" +
                                  std::to_string(i) + ".txt");
      INFO(i);
      CHECK(page.status == 200);
      CHECK(page.body.rfind("first " + std::to_string(i), 0) == 0);
    }
  for (int i = 0; i < 20; ++i)
    write_file(c.dir / "site/public/b" + std::to_string(i) + ".txt",
               "second " + std::to_string(i) + std::string(500, 'z'));
  auto second = c.deployed(c.dir / "site", {"--project", "site", "--prod"}, home.path());
  auto page =
      http("GET", "http://site.ferry.localhost" + port_of(c.nodes[1]->router_url) + "/b5.txt");
  CHECK(page.body.rfind("second 5", 0) == 0);

  // node3 comes back and is seen up again
  c.nodes[2]->start();
  c.wait_all_up();
  auto third =
      http("GET", "http://site.ferry.localhost" + port_of(c.nodes[2]->router_url) + "/b7.txt");
  CHECK(third.status == 200);
  CHECK(third.body.rfind("second 7", 0) == 0);
}

namespace {

/// A project whose `npm run build` sleeps first.
std::string slow_project(const std::string& dir, const std::string& name, double seconds) {
  auto p = dir + "/" + name;
  write_file(p + "/package.json", R"({"scripts": {"build": "sleep )" + std::to_string(seconds) +
                                      R"( && mkdir -p dist && echo )" + name +
                                      R"( > dist/index.html"}})");
  return p;
}

json build_of(cluster& c, const std::string& id) {
  auto r = c.api().api("GET", "/v1/builds/" + id);
  return r.status == 200 ? json::parse(r.body) : json{{"state", "?"}, {"status", r.status}};
}

} // namespace

TEST_CASE(
    "builds go to free slots over the nodes, and a build whose node dies is built "
    "on another") {
  cluster c(3, "failure_timeout_ms = 1000");
  tmpdir home;
  // three slow builds at once: one a node (each node has one slot)
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = c.deployed(slow_project(c.dir.path(), "p" + std::to_string(i), 3),
                        {"--project", "p" + std::to_string(i), "--json", "--no-wait"}, home.path());
    ids.push_back(json::parse(r.out)["build"].get<std::string>());
  }
  std::set<std::string> nodes;
  for (auto& id : ids) {
    auto b = build_of(c, id);
    INFO(b.dump());
    nodes.insert(b["node"].get<std::string>());
  }
  std::cout << "cluster: 3 builds at once went to " << nodes.size() << " node(s)\n";
  CHECK(nodes.size() == 3); // never waiting for a busy slot while another is free

  // a build on node2 or node3; that node is killed while it builds
  auto deadline = std::chrono::steady_clock::now() + 30s;
  for (auto& id : ids)
    while (build_of(c, id)["state"] != "built" && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(100ms);
  auto busy = c.deploy(slow_project(c.dir.path(), "busy", 6),
                       {"--project", "busy", "--json", "--no-wait"}, home.path());
  REQUIRE(busy.exit_code == 0); // (node1 is least loaded first: this one keeps it busy)
  auto r = c.deployed(slow_project(c.dir.path(), "moved", 2),
                      {"--project", "moved", "--json", "--no-wait"}, home.path());
  auto v = json::parse(r.out);
  auto first = build_of(c, v["build"].get<std::string>());
  auto victim = first["node"].get<std::string>();
  INFO(first.dump());
  REQUIRE(victim != "node1");
  std::this_thread::sleep_for(500ms); // it builds
  c.nodes[victim == "node2" ? 1 : 2]->kill9();
  auto t0 = std::chrono::steady_clock::now();
  json version;
  while (std::chrono::steady_clock::now() - t0 < 30s) {
    version = json::parse(c.api().api("GET", "/v1/versions/" + v["id"].get<std::string>()).body);
    if (version["state"] == "built" || version["state"] == "failed")
      break;
    std::this_thread::sleep_for(100ms);
  }
  auto took = ms_since(t0);
  INFO(version.dump());
  CHECK(version["state"] == "built");
  auto again = build_of(c, version["build"].get<std::string>());
  INFO(again.dump());
  CHECK(again["node"] != victim);
  CHECK(again["id"] != first["id"]);
  std::cout << "cluster: " << victim << " killed while building; the build was built again on "
            << again["node"].get<std::string>() << ", the version built " << took
            << " ms after the kill\n";
  // the log of the new build says why it ran again
  auto log = c.api().api("GET", "/v1/builds/" + again["id"].get<std::string>() + "/logs");
  CHECK_THAT(log.body, Catch::Contains("attempt 2 of 3") && Catch::Contains(victim));
}

TEST_CASE(
    "a dependency cache installed on one node is a hit on another, after a collection "
    "and with that node dead") {
  cluster c(3, "failure_timeout_ms = 1000\ngc_grace_s = 1\nrepair_interval_s = 3600");
  tmpdir home;
  // node1 (least loaded first) is kept busy: the project installs elsewhere
  auto busy = c.deploy(slow_project(c.dir.path(), "busy", 6),
                       {"--project", "busy", "--json", "--no-wait"}, home.path());
  REQUIRE(busy.exit_code == 0);
  auto project = std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/node-fn";
  auto first = c.deployed(project, {"--project", "fn", "--json"}, home.path());
  CHECK_THAT(first.err, Catch::Contains("dependency cache miss") && Catch::Contains("npm ci") &&
                            Catch::Contains("dependency cache shared with the cluster"));
  auto v = json::parse(first.out);
  auto b1 = build_of(c, v["build"].get<std::string>());
  INFO(b1.dump());
  auto installer = b1["node"].get<std::string>();
  REQUIRE(installer != "node1");

  // no node keeps a copy of its own: what a build finds now is the cluster's
  for (auto& n : c.nodes) {
    std::error_code ec;
    fs::remove_all(n->data_dir + "/build-cache", ec);
  }
  // a collection (the cache's blobs are past the grace): the cache is a root
  std::this_thread::sleep_for(3000ms); // (the grace, and a second of rounding)
  auto gc = c.api().api("POST", "/v1/admin/gc");
  REQUIRE(gc.status == 200);
  INFO(gc.body);
  CHECK(json::parse(gc.body)["error"] == "");
  // and the node that installed it dies
  c.nodes[installer == "node2" ? 1 : 2]->kill9();
  auto t0 = std::chrono::steady_clock::now();
  while (c.view()[installer] && ms_since(t0) < 10000)
    std::this_thread::sleep_for(50ms);
  REQUIRE_FALSE(c.view()[installer]);

  auto again =
      ferry_cli({"rebuild", v["id"].get<std::string>()}, c.api().url, c.api().token, home.path());
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.err, Catch::Contains("dependency cache hit in the cluster"));
  CHECK(again.err.find("npm ci") == std::string::npos); // nothing installed
  auto b2 = build_of(c, again.out.substr(0, again.out.find('\n')));
  INFO(b2.dump());
  CHECK(b2["state"] == "built");
  CHECK(b2["node"] != installer);
  CHECK(b2["artifact"] == b1["artifact"]); // the same node_modules, the same output
  std::cout << "cluster: dependency cache installed on " << installer << ", hit on "
            << b2["node"].get<std::string>() << " after a collection and with " << installer
            << " dead\n";
}

TEST_CASE("after the api node restarts, its dispatcher watches the builds it did not place") {
  cluster c(3, "failure_timeout_ms = 1000");
  tmpdir home;
  auto busy = c.deploy(slow_project(c.dir.path(), "busy", 12),
                       {"--project", "busy", "--json", "--no-wait"}, home.path());
  REQUIRE(busy.exit_code == 0); // (node1's slot: the next build goes elsewhere)
  auto r = c.deployed(slow_project(c.dir.path(), "watched", 10),
                      {"--project", "watched", "--json", "--no-wait"}, home.path());
  auto v = json::parse(r.out);
  auto first = build_of(c, v["build"].get<std::string>());
  auto victim = first["node"].get<std::string>();
  INFO(first.dump());
  REQUIRE(victim != "node1");

  // the api node goes and comes back: its new dispatcher knows of no build
  c.nodes[0]->kill9();
  c.nodes[0]->start();
  c.wait_all_up();
  std::this_thread::sleep_for(4500ms); // (it reconciles within 3-4 s of its start)
  // the node that builds dies: the build is placed again all the same
  c.nodes[victim == "node2" ? 1 : 2]->kill9();
  auto t0 = std::chrono::steady_clock::now();
  json version;
  while (std::chrono::steady_clock::now() - t0 < 40s) {
    version = json::parse(c.api().api("GET", "/v1/versions/" + v["id"].get<std::string>()).body);
    if (version["state"] == "built" || version["state"] == "failed")
      break;
    std::this_thread::sleep_for(100ms);
  }
  INFO(version.dump());
  CHECK(version["state"] == "built");
  auto again = build_of(c, version["build"].get<std::string>());
  INFO(again.dump());
  CHECK(again["node"] != victim);
  auto log = c.api().api("GET", "/v1/builds/" + again["id"].get<std::string>() + "/logs");
  CHECK_THAT(log.body, Catch::Contains("attempt 2 of 3") && Catch::Contains(victim));
  // and the build that died with the api node is not left building: the
  // restarted builder reports it interrupted
  auto b = json::parse(busy.out);
  auto busy_version =
      json::parse(c.api().api("GET", "/v1/versions/" + b["id"].get<std::string>()).body);
  auto busy_log =
      c.api().api("GET", "/v1/builds/" + busy_version["build"].get<std::string>() + "/logs");
  INFO(busy_log.body);
  std::cout << "cluster: api node restarted; the build on " << victim
            << " was watched by its new dispatcher and built again on "
            << again["node"].get<std::string>() << " after " << victim
            << " died; the build lost with the api node: " << busy_version["state"] << "\n";
  CHECK((busy_version["state"] == "built" || busy_version["state"] == "failed"));
}

TEST_CASE("with no build node up, ferry deploy fails and says why, and the version builds later") {
  tmpdir dir;
  auto conf = dir / "cluster.conf";
  write_cluster_conf(conf,
                     "failure_timeout_ms = 1000\n[node front]\napi = 127.0.0.1:0\nactors = "
                     "127.0.0.1:" +
                         std::to_string(free_port()) +
                         "\nroles = api, storage, deploy\n[node builder]\nactors = 127.0.0.1:" +
                         std::to_string(free_port()) + "\nroles = build\nbuild_slots = 1\n");
  auto b = std::async(std::launch::async, [&] {
    return std::make_unique<ferryd_node>(
        dir / "builder", dir.path(),
        std::vector<std::string>{"--config", conf, "--node", "builder"});
  });
  ferryd_node front{dir / "front", dir.path(), {"--config", conf, "--node", "front"}};
  auto builder = b.get();
  tmpdir home;
  write_file(dir / "site/public/index.html", "hello");
  auto up = [&] {
    auto r = front.api("GET", "/v1/admin/nodes");
    auto doc = json::parse(r.body);
    for (auto& n : doc["nodes"])
      if (n["node"] == "builder")
        return n["up"].get<bool>();
    return false;
  };
  auto until = std::chrono::steady_clock::now() + 15s;
  while (!up() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(50ms);
  REQUIRE(up());
  auto ok =
      ferry_cli({"deploy", dir / "site", "--project", "site"}, front.url, front.token, home.path());
  INFO(ok.err);
  CHECK(ok.exit_code == 0); // built on the other node, which keeps no blob

  builder->kill9();
  until = std::chrono::steady_clock::now() + 5s;
  while (up() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(50ms);
  write_file(dir / "site/public/index.html", "hello again");
  auto r = ferry_cli({"deploy", dir / "site", "--project", "site", "--json"}, front.url,
                     front.token, home.path());
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot be built now") && Catch::Contains("no node can build"));
  auto id = json::parse(r.out)["id"].get<std::string>();

  builder->start();
  until = std::chrono::steady_clock::now() + 15s;
  while (!up() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(50ms);
  auto again = ferry_cli({"rebuild", id}, front.url, front.token, home.path());
  INFO(again.err);
  CHECK(again.exit_code == 0);
}

TEST_CASE("with a node stopped (SIGSTOP), requests wait at most the failure timeout") {
  cluster c(3, "failure_timeout_ms = 1000");
  tmpdir home;
  for (int i = 0; i < 30; ++i)
    write_file(c.dir / "site/public/s" + std::to_string(i) + ".txt",
               "stopped " + std::to_string(i) + std::string(300, 'w'));
  auto r = c.deployed(c.dir / "site", {"--project", "site", "--prod"}, home.path());

  c.nodes[2]->proc().signal(SIGSTOP);
  auto t0 = std::chrono::steady_clock::now();
  int64_t slowest = 0;
  int ok = 0;
  for (auto* n : {c.nodes[0].get(), c.nodes[1].get()})
    for (int i = 0; i < 30; ++i) {
      auto s = std::chrono::steady_clock::now();
      auto page = http("GET", "http://site.ferry.localhost" + port_of(n->router_url) + "/s" +
                                  std::to_string(i) + ".txt");
      auto ms = ms_since(s);
      slowest = std::max(slowest, ms);
      ok += page.status == 200 && page.body.rfind("stopped " + std::to_string(i), 0) == 0;
    }
  auto all_ms = ms_since(t0);
  std::cout << "cluster: node3 stopped; 60 requests to the other routers: " << ok
            << " answered right, the slowest in " << slowest << " ms, all in " << all_ms << " ms\n";
  CHECK(ok == 60);
  CHECK(slowest < 1000 + 500); // the failure timeout, and a margin
  // seen down within the failure timeout (and a heartbeat's time), and a
  // deploy goes on without it
  while (c.view()["node3"] && std::chrono::steady_clock::now() - t0 < 1500ms)
    std::this_thread::sleep_for(20ms);
  CHECK_FALSE(c.view()["node3"]);
  write_file(c.dir / "site/public/new.txt", "after the stop");
  auto again = c.deploy(c.dir / "site", {"--project", "site", "--prod"}, home.path());
  INFO(again.err);
  CHECK(again.exit_code == 0);
  c.nodes[2]->proc().signal(SIGCONT);
  c.wait_all_up();
}

TEST_CASE("a router stopped during a promote never answers with the old deployment after it") {
  cluster c(3, "failure_timeout_ms = 1000");
  tmpdir home;
  write_file(c.dir / "site/public/index.html", "old");
  c.deployed(c.dir / "site", {"--project", "site", "--prod"}, home.path());
  auto url = "http://site.ferry.localhost" + port_of(c.nodes[2]->router_url) + "/";
  REQUIRE(http("GET", url).body == "old");

  c.nodes[2]->proc().signal(SIGSTOP); // node3 cannot hear of the promote
  write_file(c.dir / "site/public/index.html", "new");
  auto t0 = std::chrono::steady_clock::now();
  c.deployed(c.dir / "site", {"--project", "site", "--prod"}, home.path());
  auto promote_ms = ms_since(t0);
  c.nodes[2]->proc().signal(SIGCONT);
  // from the first request on, node3 answers the new one, or 503 while it
  // catches up (a balancer tries another router): never the old one
  // (until node3 has its links back it answers 503, or 404 when it cannot
  // ask the registry about a deployment)
  std::map<std::string, int> seen;
  std::string timeline;
  int64_t first_new = -1;
  auto t1 = std::chrono::steady_clock::now();
  while (ms_since(t1) < 6000 && (first_new < 0 || ms_since(t1) < first_new + 500)) {
    auto r = http("GET", url);
    auto what = r.status == 200 ? r.body : std::to_string(r.status);
    ++seen[what];
    if (what == "new" && first_new < 0)
      first_new = ms_since(t1);
    if (timeline.size() < 300)
      timeline += std::to_string(ms_since(t1)) + ":" + what + " ";
  }
  INFO(timeline);
  INFO("node3: " << last_lines(c.nodes[2]->proc().err(), 15));
  std::cout << "cluster: promote with node3 stopped took " << promote_ms
            << " ms; node3's router after SIGCONT:";
  for (auto& [what, n] : seen)
    std::cout << " " << what << " x" << n;
  std::cout << " (the new one from " << first_new << " ms on)\n";
  CHECK(seen.count("old") == 0);
  CHECK(seen.size() > 0);
  // (known gap: a node stopped past CAF's connection timeout takes long to
  // talk to the api node again, so "new" may come only after this window)
}

TEST_CASE(
    "nginx with the shipped load-balancer example serves through any router, also "
    "with one killed") {
  cluster c(3, "failure_timeout_ms = 1000");
  tmpdir home;
  write_file(c.dir / "site/public/index.html", "through the balancer");
  auto r = c.deployed(c.dir / "site", {"--project", "site", "--prod"}, home.path());
  // the example as shipped, with this cluster's routers and a free port
  auto conf = read_file(std::string(FERRY_SOURCE_DIR) + "/examples/load-balancer/nginx.conf");
  auto replace = [&](const std::string& from, const std::string& to) {
    auto at = conf.find(from);
    REQUIRE(at != std::string::npos);
    conf.replace(at, from.size(), to);
  };
  for (int i = 0; i < 3; ++i)
    replace("127.0.0.1:770" + std::to_string(i + 1), c.nodes[i]->router_url.substr(7));
  auto port = std::to_string(free_port());
  replace("127.0.0.1:8080", "127.0.0.1:" + port);
  replace("/tmp/ferry-lb-nginx.pid", c.dir / "nginx.pid");
  write_file(c.dir / "nginx.conf", conf);
  process nginx({"/usr/sbin/nginx", "-p", c.dir.path(), "-c", c.dir / "nginx.conf"}, {},
                c.dir.path());
  auto url = "http://site.ferry.localhost:" + port + "/";
  auto until = std::chrono::steady_clock::now() + 5s;
  while (http("GET", url).status != 200 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(50ms);
  int right = 0;
  std::string wrong;
  for (int i = 0; i < 30; ++i) {
    auto got = http("GET", url);
    if (got.body == "through the balancer")
      ++right;
    else
      wrong = std::to_string(got.status) + " " + got.body.substr(0, 200);
  }
  INFO("a wrong answer: " << wrong);
  for (auto& n : c.nodes) {
    auto direct = http("GET", "http://site.ferry.localhost" + port_of(n->router_url) + "/");
    INFO(n->data_dir << ": " << direct.status);
    CHECK(direct.status == 200);
  }
  CHECK(right == 30);
  c.nodes[1]->kill9(); // a router gone: nginx goes on with the others
  right = 0;
  for (int i = 0; i < 30; ++i)
    right += http("GET", url).body == "through the balancer";
  std::cout << "cluster: through nginx with node2 killed: " << right << " of 30 right\n";
  CHECK(right == 30);
  nginx.signal(SIGTERM); // (and wait: a master killed at once leaves its workers behind)
  CHECK(nginx.wait(10s));
}
