// Points 5, 6 and 7 of tenant isolation: a function's secrets reach neither
// a visitor nor a log in any form, a function cannot forge the router's log
// lines, preview and production variables stay apart after a promote, and
// a function's cookies stay on its own host.
#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <thread>

using namespace ferry::test;
using json = nlohmann::json;

namespace {

// quotes, slashes, '&', '+', a space and a non-ASCII letter: its JSON and
// URL-encoded forms differ from it
const std::string secret = "Tr0ub4dor&3 \"s\"/+é-42";

std::vector<std::string> forms() {
  return {secret, "Tr0ub4dor&3 \\\"s\\\"/+é-42", "Tr0ub4dor%263%20%22s%22%2F%2B%C3%A9-42",
          "Tr0ub4dor%263+%22s%22%2F%2B%C3%A9-42"};
}

void no_secret_in(const std::string& text) {
  for (auto& f : forms()) {
    INFO(f);
    CHECK(text.find(f) == std::string::npos);
  }
  CHECK(text.find("Tr0ub4dor") == std::string::npos);
}

struct secrets_fixture {
  tenant_cluster c{"", {"--runtime-pool", "1"}};
  std::string token = c.add_user("owner");

  void env_add(const std::string& project, const std::string& name, const std::string& env,
               const std::string& value) {
    auto r = ferry_cli({"env", "add", name, "--project", project, "--environment", env},
                       c.node->url, token, c.home, value + "\n");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  std::string runtime_log(const std::string& url) {
    return ferry_cli({"logs", url.substr(7, 13), "--runtime"}, c.node->url, token, c.home).out;
  }
};

} // namespace

TEST_CASE_METHOD(secrets_fixture,
                 "a function that fails holding a secret shows it to no visitor "
                 "and to no log",
                 "[security]") {
  env_add("leaky", "DB_PASSWORD", "preview", secret);
  auto url = c.deploy_ok(c.attack("secrets-broken"), "leaky", token);
  auto page = fetch(url + "/api/broken");
  INFO(page.headers << "\n" << page.body);
  CHECK(page.status == 503);
  no_secret_in(page.headers + page.body);
  CHECK(page.body.find("cannot connect") == std::string::npos); // not even the message
  auto id_at = page.body.find("request id: ");
  REQUIRE(id_at != std::string::npos);
  auto id = page.body.substr(id_at + 12, 16);
  CHECK(page.headers.find("x-ferry-id: " + id) != std::string::npos);
  // its owner finds why under the request's id, masked
  auto log = runtime_log(url);
  INFO(log);
  no_secret_in(log);
  bool found = false;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    found = found || (line.find(id) != std::string::npos &&
                      line.find("cannot connect to the database with password [secret]") !=
                          std::string::npos);
  CHECK(found);
}

TEST_CASE_METHOD(secrets_fixture,
                 "a function's output masks every form of a secret, keeps "
                 "ferry's own variables, and cannot pass for the router",
                 "[security]") {
  env_add("leaky", "DB_PASSWORD", "preview", secret);
  // a backslash, a quote and a tab: util.inspect escapes it its own way
  env_add("leaky", "API_TOKEN", "preview", "Sw0rdfish\\'\t-9");
  auto url = c.deploy_ok(c.attack("secrets"), "leaky", token);
  auto ok = fetch(url + "/api/leak");
  REQUIRE(ok.status == 200);
  auto crash = fetch(url + "/api/leak?crash=1");
  CHECK(crash.status == 500);
  no_secret_in(crash.headers + crash.body);
  std::string log;
  for (int i = 0; i < 50 && log.find("uri: ") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // flushed every tick
    log = runtime_log(url);
  }
  INFO(log);
  no_secret_in(log);
  CHECK(log.find("Sw0rdfish") == std::string::npos);
  for (auto masked : {"plain: [secret]", "uri: [secret]", "form: pw=[secret]",
                      "quoted: \\\"[secret]\\\"", "pw: '[secret]'", "token: \\\"[secret]\\\""})
    CHECK(log.find(masked) != std::string::npos);
  CHECK(log.find("\"pw\":\"[secret]\"") != std::string::npos);
  // ferry's own values are no secret
  CHECK(log.find("mine: api/leak " + url.substr(7, 13)) != std::string::npos);
  // the forged line is the function's
  std::istringstream lines(log);
  bool forged_seen = false;
  for (std::string line; std::getline(lines, line);) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("path", "") == "/forged") {
      forged_seen = true;
      CHECK(j["source"] == "function");
    }
  }
  CHECK(forged_seen);
  // and nothing of ferryd's on disk holds it in the clear
  auto grep = run({"/usr/bin/grep", "-rlF", "Tr0ub4dor", c.node->data_dir}, {}, c.dir.path());
  CHECK(grep.out.empty());
}

TEST_CASE_METHOD(secrets_fixture,
                 "a secret escaped for a JSON parser, cut by a long line or in a "
                 "request's URL is masked too",
                 "[security]") {
  env_add("leaky", "DB_PASSWORD", "preview", secret);
  auto url = c.deploy_ok(c.attack("secrets"), "leaky", token);
  REQUIRE(fetch(url + "/api/bypass").status == 200);
  // the secret in a URL a visitor sent (percent-encoded as clients do)
  fetch(url + "/api/bypass?key=Tr0ub4dor%263%20%22s%22%2F%2B%C3%A9-42");
  std::string log;
  for (int i = 0; i < 50 && log.find("key=") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = runtime_log(url);
  }
  INFO(log.substr(0, 3000));
  no_secret_in(log);
  CHECK(log.find("uesc: [secret]") != std::string::npos);
  CHECK(log.find("slash: [secret]") != std::string::npos);
  CHECK(log.find("xxxxx[secret]") != std::string::npos); // the long line, whole
  CHECK(log.find("zzzzz[secret]") != std::string::npos); // and the one stderr cut
  CHECK(log.find("key=[secret]") != std::string::npos);
}

TEST_CASE_METHOD(secrets_fixture,
                 "a promoted preview deployment serves production's variables "
                 "at production and the preview's at its own URL",
                 "[security]") {
  env_add("app", "API_KEY", "preview", "preview-key-1111");
  env_add("app", "API_KEY", "production", "production-key-2222");
  env_add("app", "PROD_ONLY", "production", "only-in-production");
  auto preview = c.deploy(c.attack("secrets"), "app", token);
  REQUIRE(preview.exit_code == 0);
  CHECK(preview.err.find("does not get production's PROD_ONLY") != std::string::npos);
  auto url = preview.out.substr(0, preview.out.find('\n'));
  auto before = json::parse(fetch(url + "/api/leak").body);
  CHECK(before["env"] == "preview");
  CHECK(before["key"] == "preview-key-1111");
  auto promote = ferry_cli({"promote", url.substr(7, 13)}, c.node->url, token, c.home);
  INFO(promote.err);
  REQUIRE(promote.exit_code == 0);
  auto prod = json::parse(fetch(c.at("app.ferry.localhost") + "/api/leak").body);
  CHECK(prod["env"] == "production");
  CHECK(prod["key"] == "production-key-2222");
  auto again = json::parse(fetch(url + "/api/leak").body); // the preview URL: still preview
  CHECK(again["env"] == "preview");
  CHECK(again["key"] == "preview-key-1111");
}

TEST_CASE_METHOD(secrets_fixture, "a function's cookies stay on the host that set them",
                 "[security]") {
  auto url = c.deploy_ok(c.attack("cookies"), "cookies", token);
  auto host = url.substr(7, url.rfind(':') - 7);
  auto r = fetch(url + "/api/cookies");
  INFO(r.headers);
  REQUIRE(r.status == 200);
  auto cookie = [&](const std::string& name) {
    auto at = r.headers.find("Set-Cookie: " + name + "=");
    REQUIRE(at != std::string::npos);
    return r.headers.substr(at, r.headers.find("\r\n", at) - at);
  };
  CHECK(cookie("parent") == "Set-Cookie: parent=1; Path=/");
  CHECK(cookie("dotted") == "Set-Cookie: dotted=2; Path=/; HttpOnly");
  CHECK(cookie("own") == "Set-Cookie: own=3; Domain=" + host + "; Path=/");
  CHECK(cookie("sibling") == "Set-Cookie: sibling=4");
  CHECK(cookie("plain") == "Set-Cookie: plain=5; Path=/; Secure");
}

TEST_CASE_METHOD(secrets_fixture,
                 "an environment's variables are bounded: their number, their "
                 "size and the forms the logs are masked with",
                 "[security]") {
  auto add = [&](const std::string& name, const std::string& value) {
    return ferry_cli({"env", "add", name, "--project", "many", "--environment", "preview"},
                     c.node->url, token, c.home, value + "\n");
  };
  for (int i = 0; i < 100; ++i)
    REQUIRE(add("V" + std::to_string(i), "value-" + std::to_string(i)).exit_code == 0);
  auto more = add("V100", "one too many");
  CHECK(more.exit_code != 0);
  CHECK(more.err.find("at most 100 variables") != std::string::npos);
  CHECK(add("V7", "replaced: no more than before").exit_code == 0);
  // 64 KiB in all
  auto big = add("BIG", std::string(60 << 10, 'a'));
  CHECK(big.exit_code != 0);
  auto c2 = ferry_cli({"env", "add", "A", "--project", "wide", "--environment", "preview"},
                      c.node->url, token, c.home, std::string(40 << 10, 'a') + "\n");
  REQUIRE(c2.exit_code == 0);
  auto c3 = ferry_cli({"env", "add", "B", "--project", "wide", "--environment", "preview"},
                      c.node->url, token, c.home, std::string(30 << 10, 'b') + "\n");
  CHECK(c3.exit_code != 0);
  CHECK(c3.err.find("64 KiB in all") != std::string::npos);
  // the other environment has its own
  auto c4 = ferry_cli({"env", "add", "B", "--project", "wide", "--environment", "production"},
                      c.node->url, token, c.home, std::string(30 << 10, 'b') + "\n");
  CHECK(c4.exit_code == 0);
  // 24 KiB of a byte every escape writes long (\u0001, \\u0001, \x01,
  // %01...): some 26 bytes of forms each, 512 KiB and more
  std::string odd(24 << 10, '\x01');
  auto c5 = ferry_cli({"env", "add", "ODD", "--project", "odd", "--environment", "preview"},
                      c.node->url, token, c.home, odd + "\n");
  CHECK(c5.exit_code != 0);
  CHECK(c5.err.find("512 KiB") != std::string::npos);
}
