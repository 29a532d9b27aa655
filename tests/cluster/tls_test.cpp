// The actor port is private: TLS both ways with the cluster CA's
// certificates (ferry admin cluster-certs). A node whose certificate another
// CA signed, a client without a certificate, and plain bytes are refused,
// and the refusing node logs it.
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <iostream>
#include <thread>

using namespace ferry::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::map<std::string, bool> view_of(ferryd_node& api) {
  std::map<std::string, bool> out;
  auto r = api.api("GET", "/v1/admin/nodes");
  if (r.status != 200)
    return out;
  auto doc = json::parse(r.body); // (kept: a loop over a temporary's member dangles)
  for (auto& n : doc["nodes"])
    out[n["node"].get<std::string>()] = n["up"].get<bool>();
  return out;
}

bool eventually(const std::function<bool()>& ok, std::chrono::milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ok())
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return ok();
}

} // namespace

TEST_CASE("a node with a certificate of another CA cannot join or send a message") {
  tmpdir dir;
  auto port1 = std::to_string(free_port()), port2 = std::to_string(free_port()),
       port3 = std::to_string(free_port());
  auto nodes = "[node node1]\napi = 127.0.0.1:0\nactors = 127.0.0.1:" + port1 +
               "\nroles = api, storage, build, deploy\nbuild_slots = 1\n"
               "[node node2]\nactors = 127.0.0.1:" +
               port2 +
               "\nroles = storage, deploy\n"
               "[node node3]\nactors = 127.0.0.1:" +
               port3 + "\nroles = storage, deploy\n";
  auto conf = dir / "cluster.conf", rogue_conf = dir / "rogue.conf";
  write_cluster_conf(conf, "failure_timeout_ms = 1000\n" + nodes);
  // the same cluster.conf, but certificates of a CA of its own: what an
  // intruder who copied cluster.conf could make
  write_cluster_conf(rogue_conf, "failure_timeout_ms = 1000\ncerts = rogue\n" + nodes);
  REQUIRE(read_file(dir / "certs/ca.pem") != read_file(dir / "rogue/ca.pem"));

  auto start = [&](const std::string& name, const std::string& config) {
    return std::async(std::launch::async, [&, name, config] {
      return std::make_unique<ferryd_node>(
          dir / name, dir.path(), std::vector<std::string>{"--config", config, "--node", name});
    });
  };
  auto s2 = start("node2", conf), s3 = start("node3", rogue_conf);
  ferryd_node node1{dir / "node1", dir.path(), {"--config", conf, "--node", "node1"}};
  auto node2 = s2.get(), node3 = s3.get();

  // node2 joins; node3 never does, for 4 s (4 failure timeouts)
  bool joined = eventually([&] { return view_of(node1)["node2"]; }, 10s);
  INFO("node1: " << last_lines(node1.proc().err(), 8)
                 << "\nnode2: " << last_lines(node2->proc().err(), 8));
  REQUIRE(joined);
  auto t0 = std::chrono::steady_clock::now();
  int seen_up = 0, looks = 0;
  while (std::chrono::steady_clock::now() - t0 < 4s) {
    auto v = view_of(node1);
    seen_up += v["node3"] ? 1 : 0;
    CHECK(v["node2"]);
    ++looks;
    std::this_thread::sleep_for(100ms);
  }
  std::cout << "[tls] node3 (another CA) seen up by node1 in " << seen_up << " of " << looks
            << " looks over 4 s\n";
  CHECK(seen_up == 0);
  CHECK(looks > 20);

  // both sides say why: the intruder cannot reach the others, and they
  // log the refused handshakes with its address
  CHECK_THAT(node3->proc().err(),
             Catch::Contains("cannot reach node node1") && Catch::Contains("TLS handshake failed"));
  CHECK_THAT(node1.proc().err(), Catch::Contains("actor port: a TLS handshake with 127.0.0.1:") &&
                                     Catch::Contains("only nodes with a certificate"));

  // a client that trusts the cluster CA but has no certificate of its own
  // cannot send a byte to the actors: the handshake is refused and logged
  auto s_client = run({"/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:" + port1, "-CAfile",
                       dir / "certs/ca.pem", "-quiet", "-verify_return_error"},
                      {}, dir.path(), std::string(64, 'x'), 10s);
  std::cout << "[tls] openssl s_client without a certificate: exit " << s_client.exit_code << "\n";
  CHECK(s_client.exit_code != 0);
  CHECK(s_client.out.empty());
  CHECK(eventually(
      [&] { return node1.proc().err().find("certificate required") != std::string::npos; }, 5s));

  // plain bytes (a BASP client without TLS) get nothing back and are cut off
  auto plain = raw_exchange("http://127.0.0.1:" + port1, std::string(200, '\0'), true, 3000);
  CHECK(plain.empty());

  // and the intruder's presence changes nothing for the real cluster: a
  // deploy stores its files and node2's router serves it
  tmpdir home;
  write_file(dir / "site/public/index.html", "only the cluster's own nodes");
  auto r =
      ferry_cli({"deploy", dir / "site", "--project", "tls"}, node1.url, node1.token, home.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto url = r.out.substr(0, r.out.find('\n'));
  auto host = url.substr(7, url.rfind(':') - 7);
  auto router = node2->router_url;
  auto served = http("GET", "http://" + host + router.substr(router.rfind(':')) + "/");
  CHECK(served.status == 200);
  CHECK(served.body == "only the cluster's own nodes");
}
