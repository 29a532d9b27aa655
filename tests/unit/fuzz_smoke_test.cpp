// Runs the fuzz entry points over seeds and many random mutations of them,
// so that every build exercises the parsers of untrusted bytes. The real
// coverage-guided runs are scripts/fuzz.sh (libFuzzer).
#include "storage/sha256.hpp"
#include "storage/tree.hpp"
#include "tests/fuzz/fuzz_targets.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace ferry;

namespace {

void mutate_and_run(int (*target)(const uint8_t*, size_t), std::vector<std::string> seeds) {
  std::mt19937 rng(1234);
  for (auto& s : seeds)
    target(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  for (int i = 0; i < 20000; ++i) {
    auto s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0:
          if (!s.empty())
            s[rng() % s.size()] = static_cast<char>(rng());
          break;
        case 1:
          s.insert(s.begin() + static_cast<long>(rng() % (s.size() + 1)), static_cast<char>(rng()));
          break;
        case 2:
          if (!s.empty())
            s.erase(rng() % s.size(), 1 + rng() % 8);
          break;
        case 3: s.resize(rng() % (s.size() + 1)); break;
      }
    }
    target(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
}

} // namespace

TEST_CASE("the parsers of untrusted bytes survive mutated input") {
  auto h = sha256_hex("x");
  std::vector<tree_entry> entries{{entry_kind::dir, 3, h, "a"},
                                  {entry_kind::file, 1, h, "b"},
                                  {entry_kind::link, 3, "a/b", "c"}};
  mutate_and_run(fuzz::tree_node, {encode_tree(entries), "f 1 " + h + " x\n"});
  std::string pack(1, '\0');
  pack.append(32, 'h');
  uint64_t len = 3;
  pack.append(reinterpret_cast<const char*>(&len), 8);
  pack += "abc";
  mutate_and_run(fuzz::blob_pack, {pack, pack + pack});
  mutate_and_run(fuzz::manifest,
                 {"\x00{\"files\":[{\"path\":\"a/b\",\"hash\":\"" + h +
                      "\",\"size\":1},"
                      "{\"path\":\"l\",\"symlink\":\"a/b\"}]}",
                  std::string("\x01\x00\x00\x00\x00\x04\x00\x00\x00", 9) + std::string(40, '\0')});
  mutate_and_run(fuzz::cluster_config,
                 {"domain = x\n[node a]\napi = 127.0.0.1:1\nactors = 127.0.0.1:2\nroles = api\n"});
  mutate_and_run(fuzz::router_text, {"/api/a%20b?x=%C3%A9", "caf\xc3\xa9 \"q\" \\ \x01",
                                     "\xf0\x9f\x98\x80\xed\xa0\x80\xe0\x80\xff%zz%00"});
  mutate_and_run(fuzz::proxy_request,
                 {"CONNECT registry.npmjs.org:443 HTTP/1.1\r\nHost: registry.npmjs.org\r\n\r\n",
                  "GET http://mirror.example:8080/a/b?c=d HTTP/1.1\r\nHost: mirror.example\r\n"
                  "Proxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n",
                  "GET http://[::1]:80/ HTTP/1.0\r\n\r\n"});
  mutate_and_run(fuzz::client_hello,
                 {std::string("\x16\x03\x01\x00\x31\x01\x00\x00\x2d\x03\x03", 11) +
                  std::string(32, 'r') + std::string("\x00\x00\x02\x13\x01\x01\x00\x00\x00", 9)});
  mutate_and_run(fuzz::npmrc, {"registry=https://r.example/\n@s:registry=https://s.example/\n"
                               "//r.example/:_authToken=abc\ngit=./evil.sh\n; comment\n"
                               "script-shell = /bin/sh\r\n[section]\nlegacy-peer-deps=true\n"});
  // (the first byte splits the input in two: its value mod the size is where)
  auto split = [](char at, const std::string& rest) { return std::string(1, at) + rest; };
  mutate_and_run(fuzz::cookie, {split(20, "app.ferry.localhosta=1; Domain=ferry.localhost; Path=/"),
                                split(5, "x.iob=2;domain=.x.io;Secure"), split(1, "c=3")});
  mutate_and_run(fuzz::secret_mask, {split(11, "p4ss wo&d!!log: p4ss wo&d, p4ss%20wo%26d"),
                                     split(8, "\"q/\\x\"{\"k\":\"\\\"q/\\\\x\\\"\"}")});
  mutate_and_run(fuzz::host_names,
                 {"www.site.ferry.localhost", "abcdefghijklm-site.ferry.localhost", "example.com",
                  "www.example.com", "a.other.example", "127.0.0.1", "ferry.localhost", "site"});
  mutate_and_run(fuzz::lockfile,
                 {R"({"packages":{"":{"dependencies":{"d":"u/r"}},"node_modules/d":{"resolved":)"
                  R"("https://registry.npmjs.org/d/-/d-1.0.0.tgz","bin":{"d":"bin/x.js"}}}})",
                  R"({"dependencies":{"d":{"version":"github:u/r#abc","from":"u/r"}}})"});
  mutate_and_run(fuzz::masker, {"abc\xff"
                                "bcd\xff"
                                "xx\xfe"
                                "zabcdxxabcab",
                                "aaaa\xff"
                                "aab\xfe"
                                "aaaaaaaaab aaa"});
  mutate_and_run(fuzz::routes,
                 {R"j([{"src": "/old/(.*)", "status": 308, "headers": {"Location": "/new/$1"}},
                      {"src": "/(?<a>[^/]*)/(.*)", "headers": {"x-a": "$a $2"}, "continue": true},
                      {"handle": "filesystem"},
                      {"src": "/u/([^/]+)", "dest": "/api/u?id=$1", "check": true,
                       "has": [{"type": "cookie", "key": "s"}]},
                      {"handle": "miss"}, {"src": "/(.*)", "dest": "/$1.html", "check": true},
                      {"handle": "error"}, {"src": "/.*", "dest": "/404", "status": 404}])j"
                  "\xff"
                  "GET\n/u/a%0d\r\nq=1&id=2\ncookie:s=1; t=2\nx-beta:on"});
  // found by libFuzzer: a JSON object without "files" read past the object
  std::string no_files("\x00{\"x\":{}}", 10);
  fuzz::manifest(reinterpret_cast<const uint8_t*>(no_files.data()), no_files.size());
  SUCCEED("no crash, no invariant broken");
}
