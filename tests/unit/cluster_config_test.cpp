#include "actors/cluster_config.hpp"
#include "messages/errors.hpp"

#include <catch2/catch.hpp>

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

TEST_CASE("the embedded default is one node with every role") {
  auto c = default_cluster();
  REQUIRE(c.nodes.size() == 1);
  CHECK(c.nodes[0].roles == known_roles());
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
}
