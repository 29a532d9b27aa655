#pragma once
// The cluster of the cluster tests: N real ferryd nodes on loopback.
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ferry::test {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// N nodes started at once: node1 plays api, storage, build, deploy; the
/// others storage, build, deploy. settings: top-level cluster.conf lines.
struct cluster {
  tmpdir dir;
  std::string conf;
  std::vector<std::unique_ptr<ferryd_node>> nodes;

  explicit cluster(int n, const std::string& settings = "") {
    std::string text = settings + "\n";
    for (int i = 1; i <= n; ++i) {
      text += "[node node" + std::to_string(i) + "]\n";
      if (i == 1)
        text += "api = 127.0.0.1:0\n";
      text += "actors = 127.0.0.1:" + std::to_string(free_port()) + "\n";
      text += "router = 127.0.0.1:0\n";
      text += i == 1 ? "roles = api, storage, build, deploy\n" : "roles = storage, build, deploy\n";
      text += "build_slots = 1\n";
    }
    conf = dir / "cluster.conf";
    write_cluster_conf(conf, text);
    std::vector<std::future<std::unique_ptr<ferryd_node>>> starting;
    for (int i = 1; i <= n; ++i)
      starting.push_back(std::async(std::launch::async, [this, i] { return start(i); }));
    for (auto& s : starting)
      nodes.push_back(s.get());
    wait_all_up();
  }

  std::unique_ptr<ferryd_node> start(int i) {
    auto name = "node" + std::to_string(i);
    return std::make_unique<ferryd_node>(
        dir / name, dir.path(),
        std::vector<std::string>{"--config", conf, "--node", name, "--runtime-pool", "1"});
  }

  ferryd_node& api() { return *nodes.front(); }

  /// How the API node sees the cluster: node -> up.
  std::map<std::string, bool> view() {
    std::map<std::string, bool> out;
    auto r = api().api("GET", "/v1/admin/nodes");
    if (r.status != 200)
      return out;
    auto doc = json::parse(r.body);
    for (auto& n : doc["nodes"])
      out[n["node"].get<std::string>()] = n["up"].get<bool>();
    return out;
  }

  /// Until the API node sees every node up (or want, for one node).
  void wait_all_up(std::chrono::milliseconds limit = 15s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto v = view();
      bool all = v.size() == nodes.size();
      for (auto& [n, up] : v)
        all = all && up;
      if (all)
        return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL("the cluster did not come up: " << api().api("GET", "/v1/admin/nodes").body);
  }

  run_result deploy(const std::string& path, const std::vector<std::string>& extra,
                    const std::string& home) {
    std::vector<std::string> args{"deploy", path};
    args.insert(args.end(), extra.begin(), extra.end());
    return ferry_cli(args, api().url, api().token, home);
  }

  /// deploy, which must succeed (its stderr shown if not).
  run_result deployed(const std::string& path, const std::vector<std::string>& extra,
                      const std::string& home) {
    auto r = deploy(path, extra, home);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r;
  }
};

inline int64_t ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

inline std::string port_of(const std::string& url) {
  return url.substr(url.rfind(':'));
}

} // namespace ferry::test
