// Which host names a project may have (actors/host_names.hpp).
#include "actors/host_names.hpp"

#include <catch2/catch.hpp>

using namespace ferry;

namespace {

std::string alias(const std::string& host, const std::string& project = "site") {
  return check_alias_host(host, project, "ferry.localhost",
                          [](const std::string& d) -> std::optional<std::string> {
                            if (d == "example.com")
                              return std::string("site");
                            if (d == "shop.example.com")
                              return std::string("shop");
                            return std::nullopt;
                          });
}

} // namespace

TEST_CASE("a project's aliases are names below its production host or on its assigned domains") {
  CHECK(alias("www.site.ferry.localhost").empty());
  CHECK(alias("a.b.site.ferry.localhost").empty());
  CHECK(alias("example.com").empty());
  CHECK(alias("www.example.com").empty());
  CHECK_FALSE(alias("site.ferry.localhost").empty()); // production: promote and rollback
  CHECK_FALSE(alias("other.ferry.localhost").empty());
  CHECK_FALSE(alias("www.other.ferry.localhost").empty());
  CHECK_FALSE(alias("abcdefghijklm-site.ferry.localhost").empty());
  CHECK_FALSE(alias("ferry.localhost").empty());
  CHECK_FALSE(alias("localhost").empty());
  CHECK_FALSE(alias("x.localhost").empty());
  CHECK_FALSE(alias("127.0.0.1").empty());
  CHECK_FALSE(alias("10.0.0.1").empty());
  CHECK_FALSE(alias("www.example.org").empty()); // assigned to nobody
  // the nearest assignment decides
  CHECK_FALSE(alias("shop.example.com").empty());
  CHECK_FALSE(alias("cart.shop.example.com").empty());
  CHECK(alias("cart.shop.example.com", "shop").empty());
  CHECK_FALSE(alias("WWW.site.ferry.localhost").empty()); // lower case only
}

TEST_CASE("project names cannot take a deployment host's shape: domains are assigned sparingly") {
  CHECK(check_project_name("site").empty());
  CHECK(check_project_name("my-shop-2").empty());
  CHECK_FALSE(check_project_name("abcdefghijklm-site").empty());
  CHECK(check_project_name("abcdefghijkl-site").empty()); // 12 letters: no deployment has that
  CHECK_FALSE(check_project_name("a.b").empty());
  CHECK_FALSE(check_project_name("-x").empty());
  CHECK(check_assignable_domain("example.com", "ferry.localhost").empty());
  CHECK_FALSE(check_assignable_domain("com", "ferry.localhost").empty());
  CHECK_FALSE(check_assignable_domain("x.ferry.localhost", "ferry.localhost").empty());
  CHECK_FALSE(check_assignable_domain("ferry.localhost", "ferry.localhost").empty());
  CHECK_FALSE(check_assignable_domain("192.168.1.1", "ferry.localhost").empty());
  CHECK_FALSE(check_assignable_domain("app.localhost", "ferry.localhost").empty());
  CHECK(is_ip_address("1.2.3.4"));
  CHECK(is_ip_address("::1"));
  CHECK_FALSE(is_ip_address("1.2.3.com"));
}
