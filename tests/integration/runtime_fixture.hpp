#pragma once
// A ferryd for the runtime tests (runtime_test.cpp, functions_test.cpp):
// its instances stop after 800 ms unused, one generic runtime kept warm.
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace ferry::test {

/// A ferryd whose instances stop after 800 ms unused.
struct runtime_fixture {
  tmpdir dir;
  ferryd_node node;
  std::string home = dir / "home";

  explicit runtime_fixture(std::vector<std::string> extra = {})
      : node(dir / "d", dir.path(), with_defaults(std::move(extra))) {
    write_file(home + "/.keep", "");
    REQUIRE(!node.router_url.empty());
  }

  /// `ferry deploy DIR --project P [extra]`: its stdout (the URL) and the run.
  run_result deploy(const std::string& path, const std::string& project,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"deploy", path, "--project", project};
    args.insert(args.end(), extra.begin(), extra.end());
    // (a framework's first install and build: Gatsby's 1,346 packages take
    // a minute on an idle machine, longer next to another test)
    auto r = ferry_cli(args, node.url, node.token, home, "", std::chrono::seconds(400));
    if (r.exit_code != 0)
      UNSCOPED_INFO(node.summary(project)); // first: a report may show only the start
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    while (!r.out.empty() && r.out.back() == '\n')
      r.out.pop_back();
    return r;
  }

  static std::vector<std::string> with_defaults(std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--function-idle-ms", "800", "--runtime-pool", "1"});
    return extra;
  }

  std::string router_port() const { return node.router_url.substr(node.router_url.rfind(':')); }
  std::string production(const std::string& project) const {
    return "http://" + project + ".ferry.localhost" + router_port();
  }

  /// A project of functions; `version` shows up in every answer.
  std::string functions_project(const std::string& name, const std::string& version) {
    auto p = dir / name;
    write_file(p + "/ferry.json", R"({"functions": {
      "api/loop.js": {"maxDuration": 1},
      "api/hog.js": {"memory": 128}}})");
    write_file(p + "/api/info.js", R"(
const instance = Math.random().toString(36).slice(2);
module.exports = (req, res) => {
  console.log('serving with secret ' + process.env.SECRET_TOKEN);
  res.json({version: ')" + version + R"(', instance, secret: process.env.SECRET_TOKEN || null});
};)");
    write_file(p + "/api/crash.js", "module.exports = () => { process.exit(3); };\n");
    write_file(p + "/api/loop.js", "module.exports = () => { for (;;) {} };\n");
    write_file(p + "/api/hog.js", R"(
module.exports = (req, res) => {
  const keep = [];
  for (let i = 0; i < 40; ++i) keep.push(Buffer.alloc(16 << 20, 1));
  res.end('allocated ' + keep.length * 16 + ' MB');
};)");
    write_file(p + "/index.html", "<h1>" + version + "</h1>\n");
    return p;
  }
};

} // namespace ferry::test
