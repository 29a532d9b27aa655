// Point 2 of tenant isolation: what ferryd does with a build's output
// (import it as the artifact) stays beneath the slot. A hostile build
// script points its output, or a part of it, at the host: at the blob
// segments of every tenant, at /etc, at another tenant's files.
#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <thread>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

/// A project whose `npm run build` runs script in /work/src.
std::string hostile_build(tenant_cluster& c, const std::string& name, const std::string& script) {
  auto p = c.dir / name;
  write_file(p + "/package.json", R"({"scripts": {"build": "sh escape.sh"}})");
  write_file(p + "/escape.sh", script);
  return p;
}

} // namespace

TEST_CASE("a build that turns its output into a link to the host fails and copies nothing",
          "[security]") {
  tenant_cluster c;
  auto victim = c.add_user("victim");
  auto mallory = c.add_user("mallory");
  write_file(c.dir / "victim/index.html", "VICTIM-SECRET-2b9f4e\n");
  c.deploy_ok(c.dir / "victim", "victim", victim);
  auto segments = c.node->data_dir + "/cas/segments";
  REQUIRE(fs::is_directory(segments));

  struct attempt {
    std::string name, script, refusal;
  };
  // (the build makes P inside its own /tmp first, where the test's data
  // directory lives, so that the builder and end.sh find their files)
  std::vector<attempt> attempts{
      // the whole output a link to every tenant's blobs
      {"whole",
       "mkdir -p dist " + segments + " && echo x > dist/index.html && rm -rf /work/out && ln -s " +
           segments + " /work/out\n",
       "symlink?"},
      // a directory of it a link to a host directory
      {"static", "mkdir -p dist && ln -s " + segments + " dist/blobs\n", "symlink 'static/blobs'"},
      // a relative link that climbs out of the output
      {"climb", "mkdir -p dist && ln -s ../../../../../../../../../.." + segments + " dist/blobs\n",
       "symlink 'static/blobs'"},
  };
  for (auto& a : attempts) {
    INFO(a.name);
    auto p = hostile_build(c, "mallory-" + a.name, a.script);
    auto r = c.deploy(p, "grab-" + a.name, mallory);
    CHECK(r.exit_code != 0);
    auto v = c.newest_version("grab-" + a.name, mallory);
    CHECK(v["state"] == "failed");
    auto log = c.build_log("grab-" + a.name, mallory);
    INFO(log);
    CHECK(log.find("store the output") != std::string::npos);
    CHECK(log.find(a.refusal) != std::string::npos);
    // nothing to download, and nothing of the victim's anywhere
    auto dl = ferry_cli({"download", v["id"].get<std::string>(), "-o", c.dir / ("dl-" + a.name)},
                        c.node->url, mallory, c.home);
    CHECK(dl.exit_code != 0);
    auto artifact =
        c.node->api_as(mallory, "GET", "/v1/versions/" + v["id"].get<std::string>() + "/artifact");
    CHECK(artifact.status != 200);
    CHECK(artifact.body.find("VICTIM-SECRET") == std::string::npos);
  }
}

TEST_CASE("a build that replaces its source with a link to the host leaves the host alone",
          "[security]") {
  // After the build, ferryd wipes the slot: the link goes, not what it names.
  tenant_cluster c;
  auto mallory = c.add_user("mallory");
  auto keep = c.dir / "keep";
  write_file(keep + "/precious.txt", "still here\n");
  auto p = hostile_build(c, "swap",
                         "mkdir -p /work/out/static && echo x > /work/out/static/x && "
                         "echo '{}' > /work/out/config.json && cd / && rm -rf "
                         "/work/src && ln -s " +
                             keep + " /work/src\n");
  write_file(p + "/ferry.json", R"({"builder": "static-build"})");
  c.deploy(p, "swap", mallory);
  write_file(c.dir / "next/index.html", "next\n");
  c.deploy_ok(c.dir / "next", "swap", mallory); // the slot is wiped and reused
  CHECK(read_file(keep + "/precious.txt") == "still here\n");
}

TEST_CASE("a function cannot point the router at another tenant's socket or a host service",
          "[security]") {
  tenant_cluster c("", {"--runtime-pool", "1"});
  auto victim = c.add_user("victim");
  auto mallory = c.add_user("mallory");
  c.deploy_ok(c.attack("victim-fn"), "vic", victim, {"--prod"});
  CHECK(fetch(c.at("vic.ferry.localhost") + "/api/hello").body == "victim hello");
  // a root-only service on the host, on a unix socket
  auto dir = c.dir / "rootonly";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  int srv = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  auto path = dir + "/admin.sock";
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(srv, 8) == 0);
  auto url = c.deploy_ok(c.attack("socket-swap"), "swap", mallory);
  // every slot's socket a tenant could name, and the host service
  std::vector<std::string> targets{path};
  for (int slot = 1; slot <= 8; ++slot)
    for (auto dir_name : {"run", "sock"})
      targets.push_back(c.node->data_dir + "/runtime/s/" + std::to_string(slot) + "/" + dir_name +
                        "/bridge.sock");
  for (auto& t : targets) {
    auto swap = fetch(url + "/api/swap?swap=" + t);
    CHECK(swap.status == 200);
    auto next = fetch(url + "/api/swap");
    INFO(t << ": " << next.body);
    CHECK(next.body.rfind("mallory", 0) == 0); // its own function, always
  }
  CHECK(::accept(srv, nullptr, nullptr) < 0); // nobody knocked
  ::close(srv);
  CHECK(fetch(c.at("vic.ferry.localhost") + "/api/hello").body == "victim hello");
}

TEST_CASE("an artifact of hundreds of MiB is sent from a file, not held in memory", "[security]") {
  tenant_cluster c;
  auto token = c.add_user("big");
  auto p = hostile_build(c, "big",
                         "mkdir -p dist && for i in 1 2 3 4 5; do head -c 50000000 /dev/urandom "
                         "> dist/part$i; done\n");
  auto url = c.deploy_ok(p, "big", token);
  auto pid = c.node->proc().pid();
  auto before = rss_mib(pid);
  auto out = c.dir / "big.tar";
  auto got = ferry_cli({"download", url.substr(7, 13), "-o", out}, c.node->url, token, c.home);
  INFO(got.err);
  REQUIRE(got.exit_code == 0);
  CHECK(fs::file_size(out + "/static/part5") == 50000000);
  fs::remove_all(out); // and again: what ferryd holds does not grow
  REQUIRE(
      ferry_cli({"download", url.substr(7, 13), "-o", out}, c.node->url, token, c.home).exit_code ==
      0);
  auto after = rss_mib(pid);
  INFO(before << " MiB before, " << after << " MiB after");
  // a file of 50 MB at a time (and what the heap keeps of it: ferryd keeps
  // freed memory for the next upload), not the 250 MB archive, its copy into
  // an answer and a file (550 MB and more)
  CHECK(after < before + 250);
  // the archives being sent count until they are: two of a user at once
  std::vector<int> slow;
  for (int i = 0; i < 2; ++i) {
    int fd = connect_to(c.node->url);
    REQUIRE(fd >= 0);
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    std::string get = "GET /v1/versions/" + url.substr(7, 13) +
                      "/artifact HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                      "\r\n\r\n";
    ::send(fd, get.data(), get.size(), MSG_NOSIGNAL);
    slow.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::seconds(3)); // made, and being sent
  auto third = c.node->api_as(token, "GET", "/v1/versions/" + url.substr(7, 13) + "/artifact");
  CHECK(third.status == 503);
  for (int fd : slow)
    ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(c.node->api_as(token, "GET", "/v1/versions/" + url.substr(7, 13) + "/artifact").status ==
        200);
}
