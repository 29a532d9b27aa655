// Tenant bytes that ferry reads as text: a project's .npmrc, requests to
// the egress proxy and its allow-list, a function's cookies and the forms
// of its secrets in its output.
#include "deployers/local/http_text.hpp"
#include "deployers/local/log_hub.hpp"
#include "sandbox/build_runner.hpp"
#include "sandbox/egress.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

#include <chrono>

#include <arpa/inet.h>
#include <netinet/in.h>

using namespace ferry;

namespace {

sockaddr_in6 v6(const char* text) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  inet_pton(AF_INET6, text, &a.sin6_addr);
  return a;
}

sockaddr_in v4(const char* text) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, text, &a.sin_addr);
  return a;
}

template <class A>
const sockaddr* sa(const A& a) {
  return reinterpret_cast<const sockaddr*>(&a);
}

} // namespace

TEST_CASE("a project's .npmrc keeps registry and scope settings, and names what it drops") {
  std::vector<std::string> dropped;
  auto kept = sandbox::filter_npmrc(
      "registry = https://r.example/\n"
      "@acme:registry=https://npm.acme.example/\n"
      "//npm.acme.example/:_authToken=${TOKEN}\n"
      "git=./evil.sh\nscript-shell=/bin/evil\nnode-gyp=./x\n"
      "; a comment\nlegacy-peer-deps=true\r\n"
      "userconfig=/etc/shadow\nproxy=http://127.0.0.1:1/\n",
      dropped);
  CHECK(kept ==
        "registry=https://r.example/\n@acme:registry=https://npm.acme.example/\n"
        "//npm.acme.example/:_authToken=${TOKEN}\nlegacy-peer-deps=true\n");
  CHECK(dropped == std::vector<std::string>{"'git'", "'script-shell'", "'node-gyp'", "'userconfig'",
                                            "'proxy'"});
}

TEST_CASE("the egress proxy reads CONNECT and absolute-form requests, and refuses the rest") {
  sandbox::proxy_request r;
  REQUIRE(
      sandbox::parse_proxy_request("CONNECT Registry.NPMjs.org.:443 HTTP/1.1\r\n\r\n", r).empty());
  CHECK(r.connect);
  CHECK(r.host == "registry.npmjs.org");
  CHECK(r.port == 443);
  REQUIRE(sandbox::parse_proxy_request("GET http://m.example:8080/a?b HTTP/1.1\r\nHost: "
                                       "m.example:8080\r\nProxy-Authorization: x\r\n\r\n",
                                       r)
              .empty());
  CHECK_FALSE(r.connect);
  CHECK(r.head == "GET /a?b HTTP/1.1\r\nHost: m.example:8080\r\nConnection: close\r\n\r\n");
  CHECK(r.body_length == 0);
  // one request framed by its length; no forwarding headers of the tenant's
  REQUIRE(sandbox::parse_proxy_request("POST http://m.example/p HTTP/1.1\r\nContent-Length: 5\r\n"
                                       "X-Forwarded-For: 10.0.0.1\r\nForwarded: for=x\r\n\r\n",
                                       r)
              .empty());
  CHECK(r.body_length == 5);
  CHECK(r.head ==
        "POST /p HTTP/1.1\r\nContent-Length: 5\r\nHost: m.example\r\nConnection: "
        "close\r\n\r\n");
  for (auto bad : {"POST http://x/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                   "POST http://x/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                   "POST http://x/ HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                   "GET http://x/ HTTP/1.1\r\nHost : other.example\r\n\r\n",
                   "GET http://x/ HTTP/1.1\r\nX Y: z\r\n\r\n"}) {
    INFO(bad);
    CHECK_FALSE(sandbox::parse_proxy_request(bad, r).empty());
  }
  for (auto bad :
       {"GET https://x.example/ HTTP/1.1\r\n\r\n", "GET /local HTTP/1.1\r\n\r\n",
        "GET http://user@x.example/ HTTP/1.1\r\n\r\n", "CONNECT x.example HTTP/1.1\r\n\r\n",
        "CONNECT x.example:0 HTTP/1.1\r\n\r\n", "GET http://x/ HTTP/1.1\r\n folded\r\n\r\n",
        "CONNECT a b:1 HTTP/1.1\r\n\r\n", "get http://x/ HTTP/1.1\r\n\r\n"}) {
    INFO(bad);
    CHECK_FALSE(sandbox::parse_proxy_request(bad, r).empty());
  }
}

TEST_CASE("the allow-list names hosts and ports: internal addresses need the operator's range") {
  sandbox::egress_policy p{{"registry.npmjs.org", "*.example.com", "mirror.local:8443"},
                           {"10.1.0.0/16"}};
  CHECK(p.check().empty());
  CHECK(p.allows("registry.npmjs.org", 443));
  CHECK(p.allows("registry.npmjs.org", 80));
  CHECK_FALSE(p.allows("registry.npmjs.org", 22));
  CHECK(p.allows("a.b.example.com", 443));
  CHECK_FALSE(p.allows("example.com", 443));
  CHECK_FALSE(p.allows("evilexample.com", 443));
  CHECK(p.allows("mirror.local", 8443));
  CHECK_FALSE(p.allows("mirror.local", 443));
  CHECK_FALSE(p.allows("127.0.0.1", 443));
  for (auto a : {"127.0.0.1", "10.0.0.1", "172.16.5.5", "192.168.0.1", "169.254.169.254",
                 "100.64.0.1", "0.0.0.0", "224.0.0.1"})
    CHECK(sandbox::is_internal_address(sa(v4(a))));
  for (auto a : {"::1", "::", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "ff02::1"})
    CHECK(sandbox::is_internal_address(sa(v6(a))));
  CHECK_FALSE(sandbox::is_internal_address(sa(v4("203.0.113.80"))));
  CHECK_FALSE(sandbox::is_internal_address(sa(v6("2606:4700::1"))));
  CHECK(p.address_allowed(sa(v4("10.1.2.3"))));
  CHECK_FALSE(p.address_allowed(sa(v4("10.2.0.1"))));
  CHECK_FALSE(p.address_allowed(sa(v6("::ffff:127.0.0.1"))));
  CHECK_FALSE(sandbox::egress_policy{{"bad host!"}, {}}.check().empty());
  CHECK_FALSE(sandbox::egress_policy{{}, {"10.0.0.0/33"}}.check().empty());
}

TEST_CASE("a cookie's Domain broader than its host is dropped, the rest kept as it was") {
  bool changed = false;
  CHECK(runtime::scope_cookie("a=1; Domain=ferry.localhost; Path=/", "app.ferry.localhost",
                              changed) == "a=1; Path=/");
  CHECK(changed);
  CHECK(runtime::scope_cookie("a=1;DOMAIN = .Ferry.Localhost;Secure", "app.ferry.localhost",
                              changed) == "a=1;Secure");
  CHECK(runtime::scope_cookie("a=1; Domain=app.ferry.localhost", "app.ferry.localhost", changed) ==
        "a=1; Domain=app.ferry.localhost");
  CHECK_FALSE(changed);
  CHECK(runtime::scope_cookie("domain=x; Path=/", "app.ferry.localhost", changed) ==
        "domain=x; Path=/"); // a cookie named domain is a name, not an attribute
  CHECK_FALSE(changed);
}

TEST_CASE("a secret is masked as it is, JSON-escaped and URL-encoded") {
  auto forms = runtime::secret_forms("a\"b c/é");
  std::string line =
      "a\"b c/é | a\\\"b c/é | a%22b%20c%2F%C3%A9 | a%22b+c%2F%C3%A9 | "
      "a%22b%20c%2f%c3%a9 | kept";
  runtime::mask(line, forms);
  CHECK(line == "[secret] | [secret] | [secret] | [secret] | [secret] | kept");
}

TEST_CASE("a secret is masked as util.inspect writes it, and as a log line holds each form") {
  // a backslash, a quote, a tab, DEL and U+0085
  auto forms = runtime::secret_forms("k\\'\t\x7f\xc2\x85!");
  auto has = [&](const std::string& f) {
    return std::find(forms.begin(), forms.end(), f) != forms.end();
  };
  CHECK(has("k\\\\'\\t\\x7F\\x85!"));                // util.inspect: k\\'\t\x7F\x85!
  CHECK(has("k\\\\\\'\\t\\x7F\\x85!"));              // with its quote escaped
  CHECK(has("k\\\\\\\\'\\\\t\\\\x7F\\\\x85!"));      // that, in a JSON log line
  CHECK(has("k\\\\'\\u0009\x7f\xc2\x85!") == false); // (JSON writes \t)
  CHECK(has("k\\\\'\\t\x7f\xc2\x85!"));              // JSON.stringify
  CHECK(has("k\\\\\\\\'\\\\t\x7f\xc2\x85!"));        // that, in a log line
  // a key of many lines: each line of 8+ characters is masked alone
  auto pem = runtime::secret_forms("-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG\nshort\n");
  runtime::masker m(pem);
  std::string line = "'MIIBVwIBADANBgkqhkiG\\n' + 'short'";
  m.mask(line);
  CHECK(line == "'[secret]\\n' + 'short'");
  // and a masker stays small: some 28 bytes a byte of forms
  std::vector<std::string> many;
  for (int i = 0; i < 64; ++i)
    many.push_back(std::string(8 << 10, static_cast<char>('A' + i % 26)) + std::to_string(i));
  CHECK(runtime::masker(many).bytes() < (size_t{29} * 64 * (8 << 10)));
}

namespace {

std::string u16(size_t n) {
  return std::string(1, char(n >> 8)) + char(n & 255);
}

/// A server_name extension naming these hosts.
std::string sni_ext(std::vector<std::string> names) {
  std::string list;
  for (auto& n : names)
    list += std::string(1, '\0') + u16(n.size()) + n;
  std::string data = u16(list.size()) + list;
  return std::string(2, '\0') + u16(data.size()) + data;
}

/// A ClientHello record with these extensions.
std::string hello_exts(const std::string& ext) {
  std::string body = std::string("\x03\x03", 2) + std::string(32, 'r') + std::string(1, '\0') +
                     std::string("\x00\x02\x13\x01", 4) + std::string("\x01\x00", 2) +
                     u16(ext.size()) + ext;
  std::string hs = std::string(1, '\x01') + '\0' + u16(body.size()) + body;
  return std::string("\x16\x03\x01", 3) + u16(hs.size()) + hs;
}

/// A ClientHello record with this SNI (none if empty).
std::string hello_with(const std::string& sni) {
  return hello_exts(sni.empty() ? "" : sni_ext({sni}));
}

} // namespace

TEST_CASE("a tunnel's first bytes are read as a TLS ClientHello and its server name") {
  auto h = sandbox::read_client_hello(hello_with("Registry.NPMjs.org"));
  CHECK(h.kind == sandbox::client_hello::tls);
  CHECK(h.sni == "registry.npmjs.org");
  CHECK(sandbox::read_client_hello(hello_with("")).sni.empty());
  auto whole = hello_with("registry.npmjs.org");
  CHECK(sandbox::read_client_hello(whole.substr(0, whole.size() - 3)).kind ==
        sandbox::client_hello::incomplete);
  CHECK(sandbox::read_client_hello("GET / HTTP/1.1\r\nHost: evil\r\n\r\n").kind ==
        sandbox::client_hello::not_tls);
  auto bad = whole;
  bad[bad.size() - 20] = '\x7f'; // a name that is no host name
  CHECK(sandbox::read_client_hello(bad).kind == sandbox::client_hello::not_tls);
  // ways to show one name and mean another: two names, two server_name
  // extensions, an encrypted inner hello (ECH, ESNI)
  auto ok = sandbox::client_hello::tls, refused = sandbox::client_hello::not_tls;
  CHECK(sandbox::read_client_hello(hello_exts(sni_ext({"a.example"}))).kind == ok);
  CHECK(sandbox::read_client_hello(hello_exts(sni_ext({"a.example", "b.example"}))).kind ==
        refused);
  CHECK(sandbox::read_client_hello(hello_exts(sni_ext({"a.example"}) + sni_ext({"b.example"})))
            .kind == refused);
  for (auto ech : {std::string("\xfe\x0d", 2), std::string("\xff\xce", 2)})
    CHECK(sandbox::read_client_hello(hello_exts(sni_ext({"a.example"}) + ech + u16(4) + "xxxx"))
              .kind == refused);
  // any other extension once each is fine; twice is not
  auto alpn = std::string("\x00\x10", 2) + u16(5) + u16(3) + "\x02h2";
  CHECK(sandbox::read_client_hello(hello_exts(alpn + sni_ext({"a.example"}))).kind == ok);
  CHECK(sandbox::read_client_hello(hello_exts(alpn + sni_ext({"a.example"}) + alpn)).kind ==
        refused);
}

TEST_CASE("the masker finds every form in one pass, however the secrets look") {
  runtime::masker m({"s3cret", "cret-42", "ab"});
  std::string t = "x s3cret-42 ab ab|s3crets3cret y";
  m.mask(t);
  CHECK(t == "x [secret] [secret] [secret]|[secret] y");
  // a secret that is a long run and one other byte, in a long line of the run:
  // a search form by form is quadratic here (seconds); one pass is not
  std::string secret(65000, 'A');
  secret += 'B';
  std::vector<std::string> forms;
  for (char last = 'B'; last <= 'I'; ++last)
    forms.push_back(std::string(65000, 'A') + last);
  runtime::masker slow_bait(forms);
  std::string line(1 << 20, 'A');
  auto t0 = std::chrono::steady_clock::now();
  slow_bait.mask(line);
  CHECK(line == std::string(1 << 20, 'A'));
  line.back() = 'C';
  slow_bait.mask(line);
  CHECK(line == std::string((1 << 20) - 65001, 'A') + "[secret]");
  // the end of a line a cut falls in: the longest start of a form there
  line.assign(1 << 20, 'A');
  CHECK(slow_bait.open_tail(line) == 65000);
  CHECK(m.open_tail("tail s3cr") == 4);
  CHECK(m.open_tail("tail s3cret-4") == 6); // "cret-4"
  CHECK(m.open_tail("tail x") == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
}

TEST_CASE("a lockfile's git dependencies are found in every shape npm reads") {
  auto lock_with = [](const std::string& key, const std::string& value) {
    return R"({"name":"x","lockfileVersion":3,"packages":{"":{"name":"x","dependencies":{"d":")" +
           std::string(key == "dep" ? value : "1.0.0") +
           R"("}},"node_modules/d":{"version":"1.0.0",")" + (key == "dep" ? "license" : key) +
           R"(":")" + value + R"(","bin":{"d":"bin/cli.js"}}}})";
  };
  for (auto git : {"git+ssh://git@github.com/u/r.git#0123", "GIT+SSH://git@github.com/u/r.git",
                   "git://example.org/r.git", "git@github.com:u/r.git", "ssh://git@host/r",
                   "github:u/r", "GitLab:u/r", "https://github.com/u/r",
                   "https://example.org/r.git#v1", "http://user@GitHub.com/u/r"}) {
    INFO(git);
    CHECK_FALSE(sandbox::git_dependency(lock_with("resolved", git)).empty());
    CHECK_FALSE(sandbox::git_dependency(lock_with("dep", git)).empty());
  }
  // the shorthand, where a spec is read
  CHECK_FALSE(sandbox::git_dependency(lock_with("dep", "u/r#main")).empty());
  CHECK_FALSE(sandbox::git_dependency(lock_with("from", "u/r")).empty());
  // and what is no git: registry tarballs, a link's path, ranges, a bin's path
  for (auto fine : {"https://registry.npmjs.org/d/-/d-1.0.0.tgz",
                    "https://codeload.github.com/u/r/tar.gz/abc.tar.gz", "packages/d"}) {
    INFO(fine);
    CHECK(sandbox::git_dependency(lock_with("resolved", fine)).empty());
  }
  for (auto fine : {"^1.2.3", "npm:@scope/d@1", "file:../d", "1.x || 2.x", "latest"}) {
    INFO(fine);
    CHECK(sandbox::git_dependency(lock_with("dep", fine)).empty());
  }
  CHECK(sandbox::git_dependency("{not json").find("is not JSON") != std::string::npos);
}

TEST_CASE("the forms of a value of thousands of short lines are found in linear time") {
  // 64 KiB of distinct 8-character lines, each with a quote, a space and a
  // control: some 80,000 forms, kept once each without comparing all pairs
  std::string value;
  for (int i = 0; value.size() < (64 << 10); ++i) {
    char line[16];
    std::snprintf(line, sizeof line, "\"' \x1f%04d\n", i % 10000);
    value += line;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto forms = runtime::secret_forms(value);
  CHECK(forms.size() > 20000);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}

TEST_CASE("a log masks the secrets of every instance still alive, however often they changed") {
  ferry::test::tmpdir dir;
  runtime::log_hub logs(dir.path());
  auto old = logs.masker_for({"old-secret-1"}); // held by an instance still running
  logs.add_masks("d", old);
  for (int i = 0; i < 6; ++i) // six changes of the variables since, each with an instance
    logs.add_masks("d", logs.masker_for({"new-secret-" + std::to_string(i)}));
  CHECK(logs.masker_for({"old-secret-1"}) == old); // one masker for the same forms
  logs.append("d", "{\"text\":\"old-secret-1 new-secret-5 new-secret-0\"}");
  uint64_t next = 0;
  auto lines = logs.read("d", 0, 10, next);
  REQUIRE(lines.size() == 1);
  // the old instance's and the newest; the ones between have no instance left
  CHECK(lines[0] == "{\"text\":\"[secret] [secret] new-secret-0\"}");
}
