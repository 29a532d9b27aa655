#include "actors/cluster_certs.hpp"
#include "actors/cluster_config.hpp"
#include "messages/errors.hpp"

#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

#include <fstream>
#include <sstream>

using namespace ferry;

TEST_CASE("cluster.conf names nodes, addresses and roles") {
  auto c = parse_cluster_config(
      "domain = ferry.test\n"
      "[node a]  # the api node\n"
      "api = 127.0.0.1:7700\n"
      "actors = 127.0.0.1:4100\n"
      "roles = api, deploy\n"
      "[node b]\n"
      "actors = 127.0.0.1:4101\n"
      "roles = storage, build\n");
  REQUIRE(c);
  CHECK(c->domain == "ferry.test");
  REQUIRE(c->nodes.size() == 2);
  CHECK(c->find("a")->roles == std::set<std::string>{"api", "deploy"});
  CHECK(c->find("b")->actors == "127.0.0.1:4101");
  CHECK(c->find("b")->build_slots == 2); // the default
}

TEST_CASE("a bad cluster.conf fails with the line that is wrong") {
  auto bad = [](const std::string& text) {
    auto c = parse_cluster_config(text);
    REQUIRE_FALSE(c);
    return reason_of(c.error());
  };
  CHECK_THAT(bad("[node a]\nroles = api, cooking\napi = 127.0.0.1:1\n"),
             Catch::Contains("line 2") && Catch::Contains("cooking"));
  CHECK_THAT(bad("[node a]\napi = nowhere\nroles = api\n"), Catch::Contains("HOST:PORT"));
  CHECK_THAT(bad("[node a]\nroles = api\n"), Catch::Contains("no 'api' address"));
  CHECK_THAT(bad("[node a]\nroles=storage\n[node a]\nroles=api\n"), Catch::Contains("duplicate"));
  CHECK_THAT(bad("colour = blue\n"), Catch::Contains("unknown key"));
  CHECK_THAT(bad("[node a]\nroles = build\nbuild_slots = many\n"), Catch::Contains("number"));
  CHECK_THAT(bad("[node a]\nroles = build\nbuild_slots = 0\n"), Catch::Contains("out of range"));
  CHECK_THAT(bad(""), Catch::Contains("no node"));
  CHECK_THAT(bad("[node a]\napi=127.0.0.1:1\nroles=api\n[node b]\nroles=storage\n"),
             Catch::Contains("actors"));
}

TEST_CASE("a cluster that lacks a role, or plays api twice, is refused at start") {
  auto why = [](const std::string& text) {
    auto c = parse_cluster_config(text);
    REQUIRE_FALSE(c);
    return reason_of(c.error());
  };
  CHECK_THAT(why("[node a]\napi = 127.0.0.1:1\nroles = api, storage, deploy\n"),
             Catch::Contains("no node plays the build role"));
  CHECK_THAT(why("[node a]\napi = 127.0.0.1:1\nactors = 127.0.0.1:2\nroles = api, build\n"
                 "[node b]\nactors = 127.0.0.1:3\nroles = storage\n"),
             Catch::Contains("no node plays the deploy role"));
  CHECK_THAT(why("[node a]\napi = 127.0.0.1:1\nactors = 127.0.0.1:2\nroles = api, storage\n"
                 "[node b]\napi = 127.0.0.1:4\nactors = 127.0.0.1:3\nroles = api, build, "
                 "deploy\n"),
             Catch::Contains("both play the api role"));
  CHECK_THAT(why("replicas = 2\nmin_replicas = 3\n[node a]\napi = 127.0.0.1:1\nroles = api, "
                 "storage, build, deploy\n"),
             Catch::Contains("min_replicas"));
  CHECK_THAT(why("replicas = 0\n[node a]\napi = 127.0.0.1:1\nroles = api, storage, build, "
                 "deploy\n"),
             Catch::Contains("'replicas' must be a whole number from 1"));
  CHECK_THAT(why("failure_timeout_ms = 5\n[node a]\napi = 127.0.0.1:1\nroles = api, storage, "
                 "build, deploy\n"),
             Catch::Contains("failure_timeout_ms"));
  auto ok = parse_cluster_config(
      "replicas = 3\nmin_replicas = 2\nfailure_timeout_ms = 500\n"
      "write_timeout_ms = 3000\ncache_mb = 64\n[node a]\napi = "
      "127.0.0.1:1\nroles = api, storage, build, deploy\n");
  REQUIRE(ok);
  CHECK(ok->replication.replicas == 3);
  CHECK(ok->replication.min_replicas == 2);
  CHECK(ok->replication.failure_timeout_ms == 500);
  CHECK(ok->replication.write_timeout_ms == 3000);
  CHECK(ok->replication.cache_mb == 64);
}

TEST_CASE("the embedded default is one node with every role") {
  auto c = default_cluster();
  REQUIRE(c.nodes.size() == 1);
  CHECK(c.nodes[0].roles == known_roles());
}

TEST_CASE("every build may reach Google Fonts unless the operator says otherwise") {
  auto c = default_cluster();
  CHECK(c.tenants.build_egress_allow ==
        std::vector<std::string>{"fonts.googleapis.com", "fonts.gstatic.com"});
  CHECK_FALSE(c.tenants.build_network);
  auto none = parse_cluster_config(
      "build_egress_allow = none\n[node a]\napi = 127.0.0.1:1\n"
      "roles = api, storage, build, deploy\n");
  REQUIRE(none);
  CHECK(none->tenants.build_egress_allow.empty());
  auto mirror = parse_cluster_config(
      "build_egress_allow = fonts.example.com:8443\n[node a]\n"
      "api = 127.0.0.1:1\nroles = api, storage, build, deploy\n");
  REQUIRE(mirror);
  CHECK(mirror->tenants.build_egress_allow == std::vector<std::string>{"fonts.example.com:8443"});
}

TEST_CASE("the shipped cluster.conf parses") {
  std::ifstream in(std::string(FERRY_SOURCE_DIR) + "/cluster.conf");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = parse_cluster_config(ss.str());
  REQUIRE(c);
  REQUIRE(c->find("local"));
  CHECK(c->find("local")->build_slots == 2);
  CHECK(c->find("local")->build_timeout_s == 900);

  // and so does its example, as written
  std::string example, line;
  bool in_example = false;
  std::istringstream lines(ss.str());
  while (std::getline(lines, line)) {
    if (line == "# --- end of example ---")
      break;
    if (in_example)
      example += (line.size() > 2 ? line.substr(2) : std::string()) + "\n";
    in_example = in_example || line == "# --- example: three nodes ---";
  }
  auto ex = parse_cluster_config(example);
  INFO(example);
  REQUIRE(ex);
  CHECK(ex->nodes.size() == 3);
  CHECK(ex->replication.replicas == 2);
  CHECK(ex->find("node1")->roles == known_roles());
}

TEST_CASE("node names become file names, so they hold no path: certs names a directory") {
  auto why = [](const std::string& text) {
    auto c = parse_cluster_config(text);
    return c ? std::string("parsed") : reason_of(c.error());
  };
  const std::string rest = "\napi = 127.0.0.1:1\nroles = api, storage, build, deploy\n";
  CHECK_THAT(why("[node ../etc]" + rest), Catch::Contains("letters, digits"));
  CHECK_THAT(why("[node .hidden]" + rest), Catch::Contains("letters, digits"));
  CHECK_THAT(why("[node a/b]" + rest), Catch::Contains("letters, digits"));
  CHECK(why("[node node-1.east_2]" + rest) == "parsed");
  CHECK_THAT(why("certs =\n[node a]" + rest), Catch::Contains("certs must name a directory"));
  auto c = parse_cluster_config("certs = /etc/ferry/certs\n[node a]" + rest);
  REQUIRE(c);
  CHECK(certs_dir_of(*c, "/srv/cluster.conf") == "/etc/ferry/certs");
  auto d = parse_cluster_config("[node a]" + rest);
  REQUIRE(d);
  CHECK(certs_dir_of(*d, "/srv/ferry/cluster.conf") == "/srv/ferry/certs");
}

TEST_CASE(
    "cluster-certs makes a CA and node certificates that check, and tells another CA's apart") {
  ferry::test::tmpdir dir;
  std::vector<std::string> report;
  REQUIRE(make_cluster_certs(dir / "certs", {"n1", "n2"}, 30, report) == "");
  CHECK(report.size() == 3);
  CHECK(check_node_cert(cert_paths_of(dir / "certs", "n1")) == "");
  CHECK(check_node_cert(cert_paths_of(dir / "certs", "n2")) == "");
  // keys are for the node only
  CHECK((std::filesystem::status(dir / "certs/n1.key").permissions() &
         std::filesystem::perms::group_read) == std::filesystem::perms::none);
  // a second run keeps the CA and the certificates, and adds a new node's
  report.clear();
  auto ca = ferry::test::read_file(dir / "certs/ca.pem");
  REQUIRE(make_cluster_certs(dir / "certs", {"n1", "n2", "n3"}, 30, report) == "");
  CHECK(ferry::test::read_file(dir / "certs/ca.pem") == ca);
  CHECK(check_node_cert(cert_paths_of(dir / "certs", "n3")) == "");
  CHECK_THAT(report[1], Catch::StartsWith("kept"));
  CHECK_THAT(report[3], Catch::StartsWith("wrote"));

  // another CA's certificate, a key that is not the certificate's, no file
  REQUIRE(make_cluster_certs(dir / "other", {"n1"}, 30, report) == "");
  auto mixed = cert_paths_of(dir / "certs", "n1");
  mixed.cert = dir / "other/n1.pem";
  mixed.key = dir / "other/n1.key";
  CHECK_THAT(check_node_cert(mixed), Catch::Contains("is not a valid certificate of the CA"));
  auto wrong_key = cert_paths_of(dir / "certs", "n1");
  wrong_key.key = dir / "certs/n2.key";
  CHECK_THAT(check_node_cert(wrong_key), Catch::Contains("is not the key of"));
  CHECK_THAT(check_node_cert(cert_paths_of(dir / "certs", "n9")), Catch::Contains("cannot read"));
}
