// Point 8 of tenant isolation: what one tenant (or anyone) can make ferryd
// spend is bounded. Unauthenticated bodies, descriptors, a build that
// prints without end, a sparse huge output file, deploys past the size
// limits of a version and of a project, and a disk that fills up.
#include "storage/sha256.hpp"
#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ferry::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// A tmpfs of `mib` MiB mounted (by root) at a new directory, unmounted after.
struct small_disk {
  tmpdir dir;
  std::string path = dir / "disk";
  explicit small_disk(int mib) {
    fs::create_directories(path);
    REQUIRE(::mount("ferry-test", path.c_str(), "tmpfs", 0,
                    ("size=" + std::to_string(mib) + "m").c_str()) == 0);
  }
  ~small_disk() { ::umount2(path.c_str(), MNT_DETACH); }
};

/// Sends bytes as the peer takes them, for limit at most (a peer that stops
/// reading, a body over its budget: what was sent by then).
void send_while_read(int fd, const std::string& bytes, std::chrono::seconds limit) {
  size_t sent = 0;
  auto until = std::chrono::steady_clock::now() + limit;
  while (sent < bytes.size() && std::chrono::steady_clock::now() < until) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
      sent += static_cast<size_t>(n);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

/// Whether what came on fd so far begins with a 503 answer.
bool refused_503(int fd) {
  char buf[256] = {};
  ::recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
  return std::string(buf).rfind("HTTP/1.1 503", 0) == 0;
}

} // namespace

TEST_CASE("bodies of requests without a valid token cost ferryd no memory", "[security]") {
  tenant_cluster c;
  auto pid = c.node->proc().pid();
  auto before = rss_mib(pid);
  std::vector<int> conns;
  for (int i = 0; i < 16; ++i) {
    int fd = connect_to(c.node->url);
    REQUIRE(fd >= 0);
    std::string head = "PUT /v1/blobs/source/" + std::string(64, 'a') +
                       " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fry_" + std::string(40, '0') +
                       "\r\nContent-Length: 67108864\r\n\r\n" + std::string(1 << 20, 'x');
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    conns.push_back(fd);
  }
  for (int fd : conns) {
    char buf[512] = {};
    auto n = ::recv(fd, buf, sizeof buf - 1, 0); // answered at once, from the head
    CHECK(n > 0);
    CHECK(std::string(buf).rfind("HTTP/1.1 401", 0) == 0);
    ::close(fd);
  }
  auto after = rss_mib(pid);
  INFO(before << " MiB before, " << after << " MiB after");
  CHECK(after < 200);
  CHECK(after < before + 40);
  CHECK(http("GET", c.node->url + "/healthz").status == 200);

  // with a valid token: a length announced holds nothing...
  auto hog = c.add_user("hog");
  conns.clear();
  auto put_head = [&](const std::string& token, int fd) {
    std::string head = "PUT /v1/blobs/source/" + std::string(64, 'a') +
                       " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                       "\r\nContent-Length: 67108000\r\n\r\n";
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  };
  for (int i = 0; i < 6; ++i) {
    int fd = connect_to(c.node->url);
    REQUIRE(fd >= 0);
    put_head(hog, fd);
    ::send(fd, "abc", 3, MSG_NOSIGNAL);
    conns.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int busy = 0;
  for (int fd : conns)
    busy += refused_503(fd);
  CHECK(busy == 0);
  for (int fd : conns)
    ::close(fd);
  // ...and the bodies that arrive have a budget (256 MiB, 128 MiB a user):
  // past it, 503
  conns.clear();
  std::string most(67108000 - 1, 'm');
  for (int i = 0; i < 3; ++i) {
    int fd = connect_to(c.node->url);
    REQUIRE(fd >= 0);
    put_head(hog, fd);
    send_while_read(fd, most, std::chrono::seconds(10)); // all but the last byte
    conns.push_back(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    busy += refused_503(fd);
  }
  CHECK(busy == 1); // two bodies of 64 MiB are its share
  // ... and the others' uploads go on
  auto h = ferry::sha256_hex("another user's file");
  CHECK(
      c.node->api("PUT", "/v1/blobs/source/" + h, "another user's file", "application/octet-stream")
          .status == 201);
  CHECK(rss_mib(pid) < before + 128 + 64);
  CHECK(http("GET", c.node->url + "/healthz").status == 200);
  for (int fd : conns)
    ::close(fd);
}

TEST_CASE("ferryd raises its descriptor limit, and out of descriptors still answers",
          "[security]") {
  raise_own_nofile();
  {
    tenant_cluster c("", {}, {"/usr/bin/prlimit", "--nofile=1024:8192"});
    auto limits = read_file("/proc/" + std::to_string(c.node->proc().pid()) + "/limits");
    CHECK(limits.find("Max open files            8192                 8192") != std::string::npos);
  }
  tenant_cluster c("", {"--idle-timeout", "30"}, {"/usr/bin/prlimit", "--nofile=1024:1024"});
  auto& d = *c.node;
  std::vector<int> idle;
  for (int i = 0; i < 1100; ++i) {
    int fd = connect_to(d.router_url);
    if (fd >= 0)
      idle.push_back(fd);
  }
  CHECK(idle.size() > 1000);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto t0 = std::chrono::steady_clock::now();
  auto health = http("GET", d.url + "/healthz");
  CHECK(health.status == 200);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  // one more router client is told, not left hanging
  t0 = std::chrono::steady_clock::now();
  auto more = http("GET", d.router_url + "/");
  CHECK(more.status == 503);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
  CHECK(rss_mib(d.proc().pid()) < 200);
  for (int fd : idle)
    ::close(fd);
}

TEST_CASE("a build that prints without end has its log cut, and reading it stays cheap",
          "[security]") {
  tenant_cluster c("max_build_log_mb = 1");
  auto token = c.add_user("chatty");
  auto p = c.dir / "chatty";
  write_file(
      p + "/package.json",
      R"({"scripts": {"build": "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 60000000 && mkdir -p dist && echo ok > dist/index.html"}})");
  c.deploy_ok(p, "chatty", token, {"--no-wait"});
  CHECK(c.wait_built("chatty", token) == "built");
  auto log = c.build_log("chatty", token);
  CHECK(log.find("ferry: the log is cut here") != std::string::npos);
  CHECK(log.size() < (1 << 20) + (64 << 10));
  CHECK(log.find("ferry: built") != std::string::npos); // ferry's own lines still come
  CHECK(rss_mib(c.node->proc().pid()) < 200);
  // empty lines cost what a line costs to keep, not one byte each
  write_file(
      p + "/package.json",
      R"({"scripts": {"build": "yes '' | head -c 2000000 && mkdir -p dist && echo ok > dist/index.html"}})");
  c.deploy_ok(p, "chatty", token, {"--no-wait"});
  CHECK(c.wait_built("chatty", token) == "built");
  auto empty = c.build_log("chatty", token);
  auto count = std::count(empty.begin(), empty.end(), '\n');
  CHECK(empty.find("ferry: the log is cut here") != std::string::npos);
  CHECK(count < (1 << 20) / 64 + 100);
}

TEST_CASE("a project keeps the logs of its last 20 builds", "[security]") {
  tenant_cluster c;
  auto token = c.add_user("often");
  auto p = c.dir / "often";
  std::vector<std::string> builds;
  for (int i = 0; i < 21; ++i) {
    write_file(p + "/index.html", "build " + std::to_string(i));
    c.deploy_ok(p, "often", token);
    builds.push_back(c.newest_version("often", token)["build"].get<std::string>());
  }
  auto lines = [&](const std::string& build) {
    auto r = c.node->api_as(token, "GET", "/v1/builds/" + build + "/logs?from=0");
    REQUIRE(r.status == 200);
    return nlohmann::json::parse(r.body)["lines"].size();
  };
  CHECK(lines(builds[0]) == 0);
  CHECK(lines(builds[1]) > 0);
  CHECK(lines(builds[20]) > 0);
}

TEST_CASE("a huge output file is refused past the largest file, else streamed", "[security]") {
  auto sparse = [](tenant_cluster& c, const std::string& size) {
    auto p = c.dir / ("sparse" + size);
    write_file(
        p + "/package.json",
        R"({"scripts": {"build": "mkdir -p dist && echo ok > dist/index.html && truncate -s )" +
            size + R"( dist/big.bin"}})");
    return p;
  };
  {
    tenant_cluster c;
    auto token = c.add_user("mallory");
    auto r = c.deploy(sparse(c, "512M"), "sparse", token);
    CHECK(r.exit_code != 0);
    auto log = c.build_log("sparse", token);
    CHECK(log.find("over the largest file allowed (64 MiB)") != std::string::npos);
    CHECK(rss_mib(c.node->proc().pid()) < 200);
  }
  { // allowed larger: stored without holding it in memory
    tenant_cluster c("max_file_mb = 300\nmax_deploy_mb = 400");
    auto token = c.add_user("owner");
    auto url = c.deploy_ok(sparse(c, "200M"), "sparse", token);
    CHECK(rss_mib(c.node->proc().pid()) < 200);
    auto head = fetch(url + "/big.bin");
    CHECK(head.status == 200);
    CHECK(head.body.size() == (200u << 20));
  }
}

TEST_CASE("a version over the deploy limit, or a project over its limit, is refused",
          "[security]") {
  tenant_cluster c("max_deploy_mb = 2\nmax_project_mb = 3");
  auto token = c.add_user("big");
  auto files = [&](const std::string& name, size_t mib, char fill) {
    auto p = c.dir / name;
    write_file(p + "/index.html", "x");
    write_file(p + "/data.bin", std::string(mib << 20, fill));
    return p;
  };
  auto over = c.deploy(files("over", 3, 'a'), "big", token);
  CHECK(over.exit_code != 0);
  CHECK(over.err.find("max_deploy_mb") != std::string::npos);
  auto first = c.deploy_ok(files("one", 1, 'b'), "big", token);
  c.deploy_ok(files("two", 1, 'c'), "big", token);
  auto third = c.deploy(files("three", 1, 'd'), "big", token);
  CHECK(third.exit_code != 0);
  CHECK(third.err.find("max_project_mb") != std::string::npos);
  REQUIRE(ferry_cli({"rm", first.substr(7, 13)}, c.node->url, token, c.home).exit_code == 0);
  c.deploy_ok(c.dir / "three", "big", token); // room again
}

TEST_CASE("a full disk fails the writes that need space, and ferryd starts on it", "[security]") {
  small_disk disk(48);
  auto data = disk.path + "/data";
  auto logs = disk.dir / "logs";
  fs::create_directories(logs);
  auto node = std::make_unique<ferryd_node>(data, logs);
  auto home = disk.dir / "home";
  write_file(home + "/.keep", "");
  write_file(disk.dir / "site/index.html", "still served\n");
  auto r = ferry_cli({"deploy", disk.dir / "site", "--project", "site", "--prod"}, node->url,
                     node->token, home);
  REQUIRE(r.exit_code == 0);
  auto url = r.out.substr(0, r.out.find('\n'));
  // fill the disk to its last block, as another process might
  {
    std::ofstream filler(disk.path + "/filler", std::ios::binary);
    std::string block(1 << 20, 'f');
    while (filler.write(block.data(), block.size()))
      ;
  }
  write_file(disk.dir / "more/index.html", std::string(2 << 20, 'm'));
  auto full =
      ferry_cli({"deploy", disk.dir / "more", "--project", "more"}, node->url, node->token, home);
  CHECK(full.exit_code != 0);
  CHECK(full.err.find("disk is full") != std::string::npos);
  CHECK(http("GET", node->url + "/healthz").status == 200);
  CHECK(fetch(url + "/").body == "still served\n");
  // ferryd restarts on the full disk, and serves
  node->kill9();
  node->start();
  CHECK(http("GET", node->url + "/healthz").status == 200);
  CHECK(fetch(node->router_url + "/", "site.ferry.localhost").body == "still served\n");
  auto still_full =
      ferry_cli({"deploy", disk.dir / "more", "--project", "more"}, node->url, node->token, home);
  CHECK(still_full.exit_code != 0);
  // space again, and a restart: deploys work
  fs::remove(disk.path + "/filler");
  node->terminate();
  node->start();
  auto again =
      ferry_cli({"deploy", disk.dir / "more", "--project", "more"}, node->url, node->token, home);
  INFO(again.err);
  CHECK(again.exit_code == 0);
  node->terminate();
}

TEST_CASE("the router reads a body only for a function, and within a budget per client",
          "[security]") {
  tenant_cluster c("", {"--runtime-pool", "1"});
  auto token = c.add_user("owner");
  auto pid = c.node->proc().pid();
  auto url = c.deploy_ok(c.attack("victim-fn"), "fn", token);
  auto host = url.substr(7, url.rfind(':') - 7);
  // 24 bodies of 16 MiB to a host nobody serves: answered from the head
  std::vector<int> conns;
  std::string body(16 << 20, 'b');
  for (int i = 0; i < 24; ++i) {
    int fd = connect_to(c.node->router_url);
    REQUIRE(fd >= 0);
    std::string head = "POST / HTTP/1.1\r\nHost: nobody.example\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n";
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    ::send(fd, body.data(), body.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    conns.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(rss_mib(pid) < 200);
  for (int fd : conns)
    ::close(fd);
  // to a function: a length announced holds nothing...
  conns.clear();
  for (int i = 0; i < 6; ++i) {
    int fd = connect_to(c.node->router_url);
    REQUIRE(fd >= 0);
    std::string head =
        "POST /api/hello HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 16000000\r\n\r\nabc";
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    conns.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int fd : conns) {
    char buf[256] = {};
    CHECK(::recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT) < 0); // waiting for the rest, not 503
  }
  CHECK(fetch(url + "/api/hello").body == "victim hello");
  // ...and at most 64 MiB of bodies that arrive are held from one client
  for (int fd : conns)
    ::close(fd);
  conns.clear();
  int busy = 0;
  std::string most(16000000 - 1, 'm');
  for (int i = 0; i < 6; ++i) {
    int fd = connect_to(c.node->router_url);
    REQUIRE(fd >= 0);
    std::string head =
        "POST /api/hello HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 16000000\r\n\r\n";
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    send_while_read(fd, most, std::chrono::seconds(5)); // all but its last byte
    conns.push_back(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    busy += refused_503(fd);
  }
  CHECK(busy == 2); // four of 16 MB are its share
  CHECK(rss_mib(pid) < 300);
  for (int fd : conns)
    ::close(fd);
  CHECK(fetch(url + "/api/hello").body == "victim hello");
  // the answers of a function wait for clients that do not read them within
  // the same budget: a third of 30 MiB is refused
  conns.clear();
  busy = 0;
  for (int i = 0; i < 3; ++i) {
    int fd = connect_to(c.node->router_url);
    REQUIRE(fd >= 0);
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    std::string get = "GET /api/big HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
    ::send(fd, get.data(), get.size(), MSG_NOSIGNAL);
    conns.push_back(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    busy += refused_503(fd);
  }
  CHECK(busy == 1);
  CHECK(rss_mib(pid) < 300);
  for (int fd : conns)
    ::close(fd);
  CHECK(fetch(url + "/api/big").body.size() == (30u << 20)); // a client that reads gets it
}

TEST_CASE("a runtime log starts anew past its limit, and reading logs opens no file",
          "[security]") {
  tenant_cluster c("max_runtime_log_mb = 1");
  auto token = c.add_user("owner");
  write_file(c.dir / "site/index.html", "x");
  auto url = c.deploy_ok(c.dir / "site", "site", token);
  auto host = url.substr(7, url.rfind(':') - 7);
  // requests with long paths: each a line of the deployment's log
  std::string requests;
  for (int i = 0; i < 1500; ++i)
    requests += "GET /" + std::string(2000, 'p') + std::to_string(i) +
                " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  raw_exchange(c.node->router_url, requests, true, 30000);
  std::this_thread::sleep_for(std::chrono::milliseconds(600)); // flushed by a tick
  auto log = c.node->data_dir + "/runtime/logs/" + url.substr(7, 13) + ".log";
  REQUIRE(fs::exists(log));
  CHECK(fs::file_size(log) <= (1u << 20));
  auto page = c.node->api_as(token, "GET", "/v1/versions/" + url.substr(7, 13) + "/runtime-logs");
  CHECK(page.status == 200);
  CHECK(json::parse(page.body)["next"].get<uint64_t>() > 1000); // numbers go on
  // the runtime logs of many versions, read: no descriptor stays open for them
  auto fds = [&] {
    return std::distance(
        fs::directory_iterator("/proc/" + std::to_string(c.node->proc().pid()) + "/fd"),
        fs::directory_iterator{});
  };
  auto before = fds();
  for (int i = 0; i < 200; ++i) {
    auto v = c.node->api_as(token, "POST", "/v1/projects/many/versions",
                            json{{"files", json::array()}}.dump());
    auto id = json::parse(v.body).value("id", "");
    c.node->api_as(token, "GET", "/v1/versions/" + id + "/runtime-logs");
  }
  CHECK(fds() < before + 30);
}

TEST_CASE("the instances of a node share a memory budget, a user at most half", "[security]") {
  tenant_cluster c("runtime_memory_mb = 800", {"--runtime-pool", "1"});
  auto token = c.add_user("greedy");
  auto url = c.deploy_ok(c.attack("memory"), "greedy", token);
  CHECK(fetch(url + "/api/a").body == "a"); // 200 MiB of its 400
  CHECK(fetch(url + "/api/b").body == "b"); // 400 of its 400
  auto third = fetch(url + "/api/c");
  CHECK(third.status == 503);
  auto log = ferry_cli({"logs", url.substr(7, 13), "--runtime"}, c.node->url, token, c.home).out;
  CHECK(log.find("half of the node's 800") != std::string::npos);
  // a second project of the same user has no more room
  auto url3 = c.deploy_ok(c.dir / "attack-memory", "greedy-too", token);
  CHECK(fetch(url3 + "/api/a").status == 503);
  // another user still has room
  auto other = c.add_user("modest");
  auto url2 = c.deploy_ok(c.attack("victim-fn"), "modest", other);
  CHECK(fetch(url2 + "/api/hello").body == "victim hello");
}

TEST_CASE("a user owns at most max_projects projects", "[security]") {
  tenant_cluster c("max_projects = 2");
  auto token = c.add_user("hoarder");
  auto p = c.dir / "site";
  write_file(p + "/index.html", "hi");
  c.deploy_ok(p, "one", token);
  c.deploy_ok(p, "two", token);
  c.deploy_ok(p, "one", token); // its own, again
  auto third = c.deploy(p, "three", token);
  CHECK(third.exit_code != 0);
  CHECK(third.err.find("max_projects") != std::string::npos);
  auto env = ferry_cli({"env", "add", "K", "--project", "four", "--environment", "preview"},
                       c.node->url, token, c.home, "value\n");
  CHECK(env.exit_code != 0);
  CHECK(env.err.find("max_projects") != std::string::npos);
  // another user has their own
  auto other = c.add_user("other");
  c.deploy_ok(p, "three", other);
}

TEST_CASE("a project keeps its three most recently used dependency caches", "[security]") {
  tenant_cluster c;
  auto token = c.add_user("churn");
  auto p = c.dir / "churn";
  auto lock =
      read_file(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/node-fn/package-lock.json");
  auto pkg = read_file(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/node-fn/package.json");
  write_file(p + "/index.html", "x");
  auto with_version = [](std::string text, int n) { // a lockfile of its own each time
    for (size_t at = 0; (at = text.find("\"1.0.0\"", at)) != std::string::npos; at += 7)
      text.replace(at, 7, "\"1.0." + std::to_string(n) + "\"");
    return text;
  };
  auto cache = c.node->data_dir + "/build-cache/churn";
  std::vector<std::string> first;
  for (int n = 1; n <= 4; ++n) {
    write_file(p + "/package.json", with_version(pkg, n));
    write_file(p + "/package-lock.json", with_version(lock, n));
    c.deploy_ok(p, "churn", token);
    if (n == 1)
      for (auto& e : fs::directory_iterator(cache))
        first.push_back(e.path().filename().string());
  }
  REQUIRE(first.size() == 1);
  size_t kept = 0;
  for (auto& e : fs::directory_iterator(cache)) {
    ++kept;
    CHECK(e.path().filename().string() != first[0]); // the least recently used went
  }
  CHECK(kept == 3);
}
