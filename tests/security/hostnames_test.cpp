// Point 4 of tenant isolation: host names belong to their owners. A tenant
// tries to serve its page at another project's deployment URL (a project
// named like one), to take another's production host before it exists,
// the bare domain, an IP address, localhost, a name below another project,
// and a custom domain nobody assigned to it.
#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

using namespace ferry::test;
using json = nlohmann::json;

namespace {

/// POST an alias of project as token; the reply.
reply set_alias(tenant_cluster& c, const std::string& token, const std::string& project,
                const std::string& host, const std::string& deployment) {
  return c.node->api_as(token, "POST", "/v1/projects/" + project + "/aliases",
                        json{{"host", host}, {"deployment", deployment}}.dump());
}

std::string id_of(const std::string& url) {
  return url.substr(7, 13);
}

} // namespace

TEST_CASE("a tenant can neither hijack another's deployment host nor squat host names",
          "[security]") {
  tenant_cluster c;
  auto victim = c.add_user("victim");
  auto mallory = c.add_user("mallory");
  write_file(c.dir / "shop/index.html", "the victim's shop\n");
  auto shop = c.deploy_ok(c.dir / "shop", "shop", victim);
  auto shop_host = shop.substr(7, shop.rfind(':') - 7); // ID-shop.ferry.localhost
  write_file(c.dir / "evil/index.html", "mallory's page\n");

  // a project named like the victim's deployment host, deployed to production
  auto hijack = c.deploy(c.dir / "evil", id_of(shop) + "-shop", mallory, {"--prod"});
  CHECK(hijack.exit_code != 0);
  CHECK(hijack.err.find("shape of a deployment") != std::string::npos);
  CHECK(fetch(shop + "/").body == "the victim's shop\n");

  auto evil = c.deploy_ok(c.dir / "evil", "evil", mallory);
  auto dep = id_of(evil);
  for (const std::string& host : std::vector<std::string>{
           shop_host,                     // the victim's deployment host
           "shop.ferry.localhost",        // the victim's production host
           "future.ferry.localhost",      // a project's production host before it exists
           "www.shop.ferry.localhost",    // a name below another project
           "ferry.localhost",             // the bare domain
           "127.0.0.1",                   // an IP address
           "10.1.2.3",                    // another
           "app.localhost",               // and its names
           "evil.ferry.localhost",        // its own production host, as a custom alias
           "www.victim-corp.example",     // a domain nobody assigned to it
           id_of(shop) + "-shop.example", // (fine in shape, but not assigned either)
       }) {
    INFO(host);
    auto r = set_alias(c, mallory, "evil", host, dep);
    CHECK(r.status >= 400);
    CHECK(r.status < 500);
  }
  // a bare name is one below its own production host, whatever the name
  auto bare = set_alias(c, mallory, "evil", "localhost", dep);
  CHECK(json::parse(bare.body).value("host", "") == "localhost.evil.ferry.localhost");
  // what it may: names below its own production host
  CHECK(set_alias(c, mallory, "evil", "www.evil.ferry.localhost", dep).status == 200);
  CHECK(set_alias(c, mallory, "evil", "blog", dep).status == 200); // blog.evil.ferry.localhost
  CHECK(fetch(c.at("blog.evil.ferry.localhost") + "/").body == "mallory's page\n");

  // a custom domain needs an admin's assignment, and then it is the project's alone
  auto assign = c.node->api_as(mallory, "POST", "/v1/projects/evil/domains",
                               json{{"name", "evil.example"}}.dump());
  CHECK(assign.status == 403);
  for (std::string refused : std::vector<std::string>{"ferry.localhost", "x.ferry.localhost",
                                                      "127.0.0.1", "localhost", "com"}) {
    INFO(refused);
    CHECK(c.node->api("POST", "/v1/projects/evil/domains", json{{"name", refused}}.dump()).status ==
          400);
  }
  REQUIRE(c.node->api("POST", "/v1/projects/evil/domains", json{{"name", "evil.example"}}.dump())
              .status == 201);
  CHECK(set_alias(c, mallory, "evil", "evil.example", dep).status == 200);
  CHECK(set_alias(c, mallory, "evil", "www.evil.example", dep).status == 200);
  CHECK(fetch(c.node->router_url + "/", "www.evil.example").body == "mallory's page\n");
  CHECK(set_alias(c, victim, "shop", "shop.evil.example", id_of(shop)).status == 400);
  CHECK(c.node->api("POST", "/v1/projects/shop/domains", json{{"name", "evil.example"}}.dump())
            .status == 409); // assigned already

  // the victim's URLs still serve the victim
  CHECK(fetch(shop + "/").body == "the victim's shop\n");
  c.deploy_ok(c.dir / "shop", "shop", victim, {"--prod"});
  CHECK(fetch(c.at("shop.ferry.localhost") + "/").body == "the victim's shop\n");
}

TEST_CASE("another tenant's project answers as if it did not exist", "[security]") {
  tenant_cluster c;
  auto victim = c.add_user("victim");
  auto mallory = c.add_user("mallory");
  write_file(c.dir / "shop/index.html", "shop\n");
  auto shop = c.deploy_ok(c.dir / "shop", "shop", victim);
  for (auto path : {"/v1/projects/shop", "/v1/projects/shop/versions", "/v1/projects/shop/aliases",
                    "/v1/projects/shop/env", "/v1/projects/shop/domains"}) {
    INFO(path);
    auto theirs = c.node->api_as(mallory, "GET", path);
    std::string nobody = path;
    nobody.replace(nobody.find("shop"), 4, "none");
    auto none = c.node->api_as(mallory, "GET", nobody);
    CHECK(theirs.status == 404);
    CHECK(none.status == 404);
    auto [code, message] = api_error(theirs);
    CHECK(code == "not_found");
    CHECK(message == "no project 'shop'");
    CHECK(api_error(none).second == "no project 'none'");
  }
  auto v = c.node->api_as(mallory, "GET", "/v1/versions/" + id_of(shop));
  CHECK(v.status == 404);
  // and an attempt to add a variable does not take the project over
  auto env =
      c.node->api_as(mallory, "POST", "/v1/projects/shop/env",
                     json{{"name", "X"}, {"value", "y"}, {"environment", "production"}}.dump());
  CHECK(env.status == 404);
  CHECK(c.node->api_as(victim, "GET", "/v1/projects/shop").status == 200);
}
