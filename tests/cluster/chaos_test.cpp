// kill -9 of a random non-API node at a random moment during 20 deploys
// with builds, under wrk load on every router: no acknowledged blob lost,
// every build built (again elsewhere if need be), production answered by
// the surviving routers. FERRY_CHAOS_SEED=N replays a run.
#include "messages/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/sha256.hpp"
#include "tests/cluster/cluster.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <regex>

using namespace ferry;
using namespace ferry::test;

namespace {

/// Reads from whichever of several stores has the blob.
class union_store final : public blob_store {
public:
  explicit union_store(std::vector<blob_store_ptr> stores) : stores_(std::move(stores)) {}
  caf::expected<std::string> get(const blob_ref& ref) override {
    for (auto& s : stores_)
      if (auto got = s->get(ref))
        return got;
    return make_error(ec::not_found, "on no surviving node: " + ref.hash);
  }
  caf::expected<put_ack> put(const std::vector<blob_view>&) override {
    return make_error(ec::bad_request, "read only");
  }
  caf::expected<std::vector<uint32_t>> find_missing(const std::vector<blob_ref>&) override {
    return make_error(ec::bad_request, "read only");
  }

private:
  std::vector<blob_store_ptr> stores_;
};

/// wrk's figures: requests, and the failed ones (non-2xx and socket errors).
struct wrk_figures {
  long requests = 0, failed = 0;
};

wrk_figures parse_wrk(const std::string& out) {
  wrk_figures f;
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"((\d+) requests in)")))
    f.requests = std::stol(m[1]);
  if (std::regex_search(out, m, std::regex(R"(Non-2xx or 3xx responses: (\d+))")))
    f.failed += std::stol(m[1]);
  if (std::regex_search(
          out, m,
          std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))")))
    f.failed += std::stol(m[1]) + std::stol(m[2]) + std::stol(m[3]) + std::stol(m[4]);
  return f;
}

} // namespace

TEST_CASE("kill -9 of a random non-API node during 20 deploys under wrk load loses nothing") {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("FERRY_CHAOS_SEED"))
    seed = std::strtoull(s, nullptr, 10);
  std::mt19937_64 rng(seed);
  int deploys = 20; // (10 of each of two projects)
  if (const char* s = std::getenv("FERRY_CHAOS_DEPLOYS"))
    deploys = std::atoi(s);
  const int victim = 1 + static_cast<int>(rng() % 2); // node2 or node3
  // two projects deploy at once (their builds overlap, so both the API node
  // and the others build); the kill comes at a random moment of the run
  const int kill_ms = 1000 + static_cast<int>(rng() % 5000);
  std::cout << "chaos: seed " << seed << " (FERRY_CHAOS_SEED to replay)\n";

  cluster c(3, "failure_timeout_ms = 1000\nrepair_interval_s = 3600");
  tmpdir home_a, home_b;
  auto site = [&](const std::string& p) { return c.dir / ("site-" + p); };
  for (auto p : {"a", "b"}) {
    write_file(site(p) + "/package.json",
               R"({"scripts": {"build": "sleep 0.2 && mkdir -p dist && cp -r pages/. dist/"}})");
    for (int i = 0; i < 20; ++i)
      write_file(site(p) + "/pages/common" + std::to_string(i) + ".txt",
                 std::string("common ") + p + std::to_string(i) + std::string(3000, 'c'));
  }
  auto deploy = [&](const std::string& p, int n) {
    write_file(site(p) + "/pages/index.html", "version " + std::to_string(n));
    write_file(site(p) + "/pages/v" + std::to_string(n) + ".txt",
               "only in " + p + " version " + std::to_string(n) + std::string(5000 + n, 'v'));
    return c.deploy(site(p), {"--project", "chaos-" + p, "--prod"},
                    p == "a" ? home_a.path() : home_b.path());
  };
  REQUIRE(deploy("a", 0).exit_code == 0); // production exists before the load starts
  REQUIRE(deploy("b", 0).exit_code == 0);

  // load: wrk on every router; a probe on node1's router (it survives)
  auto prod = [&](int i) {
    return "http://chaos-a.ferry.localhost" + port_of(c.nodes[i]->router_url) + "/";
  };
  // (4 connections a router, each waiting 5 ms between requests: load
  // that leaves the 2 cores room to deploy and build)
  write_file(c.dir / "pace.lua", "function delay() return 5 end\n");
  std::vector<std::unique_ptr<process>> wrks;
  for (int i = 0; i < 3; ++i)
    wrks.push_back(std::make_unique<process>(
        std::vector<std::string>{"/usr/bin/wrk", "-t1", "-c4", "-d300s", "--timeout", "5s", "-s",
                                 c.dir / "pace.lua", "-H", "Host: chaos-a.ferry.localhost",
                                 "http://127.0.0.1" + port_of(c.nodes[i]->router_url) + "/"},
        std::map<std::string, std::string>{}, c.dir.path()));
  std::atomic<bool> probing{true};
  std::mutex mtx;
  std::vector<int64_t> failures; // ms since start
  long probes = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::thread probe([&] {
    while (probing) {
      auto r = http("GET", prod(0));
      std::lock_guard<std::mutex> g{mtx};
      ++probes;
      if (r.status != 200 || r.body.rfind("version ", 0) != 0)
        failures.push_back(ms_since(t0));
      std::this_thread::sleep_for(20ms);
    }
  });

  std::atomic<int> ok{0};
  std::atomic<int64_t> killed_at{-1};
  std::string victim_name = "node" + std::to_string(victim + 1);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_ms));
    c.nodes[victim]->kill9();
    killed_at = ms_since(t0);
  });
  std::mutex report;
  std::vector<std::string> failed_deploys;
  auto stream = [&](const std::string& p) {
    for (int n = 1; n <= deploys / 2; ++n) {
      auto r = deploy(p, n);
      if (r.exit_code == 0) {
        ++ok;
      } else {
        std::lock_guard<std::mutex> g{report};
        failed_deploys.push_back(p + " " + std::to_string(n) + ": " + last_lines(r.err, 6));
      }
    }
  };
  std::thread stream_b([&] { stream("b"); });
  stream("a");
  stream_b.join();
  killer.join();
  for (auto& f : failed_deploys)
    FAIL_CHECK("deploy " << f);
  probing = false;
  probe.join();
  std::vector<wrk_figures> load;
  std::vector<std::string> wrk_out;
  for (auto& w : wrks) {
    w->signal(SIGINT); // (wrk prints its figures and ends)
    CHECK(w->wait(10s));
    load.push_back(parse_wrk(w->out()));
    wrk_out.push_back(w->out());
  }
  auto deploys_ms = ms_since(t0);

  // every version built, some perhaps on a second attempt
  int built = 0, requeued = 0, listed = 0;
  std::map<std::string, int> built_on;
  std::vector<std::pair<std::string, std::string>> trees; // source root, artifact
  for (auto p : {"a", "b"}) {
    auto list = c.api().api("GET", std::string("/v1/projects/chaos-") + p + "/versions");
    REQUIRE(list.status == 200);
    auto versions = json::parse(list.body)["versions"];
    for (auto& v : versions) {
      ++listed;
      built += v["state"] == "built";
      auto builds = c.api().api("GET", "/v1/versions/" + v["id"].get<std::string>() + "/builds");
      auto all = json::parse(builds.body)["builds"];
      for (auto& b : all) {
        auto log = c.api().api("GET", "/v1/builds/" + b["id"].get<std::string>() + "/logs");
        requeued += log.body.find("attempt 2 of 3") != std::string::npos;
      }
      // (a finished build's record and log stay on its node: one whose node
      // was killed is gone; the version keeps its output tree)
      auto b = json::parse(c.api().api("GET", "/v1/builds/" + v["build"].get<std::string>()).body);
      ++built_on[b.value("node", victim_name + " (gone)")];
      INFO("version " << v.dump());
      CHECK_FALSE(v.value("artifact", std::string()).empty());
      trees.emplace_back(v["root"].get<std::string>(), v.value("artifact", std::string()));
    }
  }
  CHECK(listed == deploys + 2);
  CHECK(built == deploys + 2);

  // no acknowledged blob lost: every tree reads back, every blob verifies,
  // from the stores of the surviving nodes alone
  for (auto& n : c.nodes)
    n->kill9();
  std::vector<blob_store_ptr> survivors;
  for (int i = 0; i < 3; ++i)
    if (i != victim) {
      auto s = open_rocksdb_blob_store(c.nodes[i]->data_dir + "/cas");
      REQUIRE(s);
      survivors.push_back(*s);
    }
  union_store store(survivors);
  size_t verified = 0, lost = 0;
  for (auto& [root, artifact] : trees)
    for (auto [hash, ns] :
         {std::make_pair(root, blob_ns::tree), std::make_pair(artifact, blob_ns::output_tree)}) {
      INFO("tree " << hash);
      REQUIRE_FALSE(hash.empty());
      std::vector<blob_ref> seen;
      auto walked = walk_tree(store, hash, static_cast<uint8_t>(ns), &seen);
      CHECK(walked);
      for (auto& ref : seen) {
        auto bytes = store.get(ref);
        if (bytes && sha256_hex(*bytes) == ref.hash)
          ++verified;
        else
          ++lost;
      }
    }
  std::lock_guard<std::mutex> g{mtx};
  int64_t window = failures.empty() ? 0 : failures.back() - failures.front();
  std::string where;
  for (auto& [n, k] : built_on)
    where += (where.empty() ? "" : ", ") + n + " " + std::to_string(k);
  std::cout << "chaos: " << victim_name << " killed " << killed_at << " ms into " << deploys
            << " deploys of two projects at once; " << ok << " of " << deploys << " succeeded, "
            << built << " versions built (" << where << "; " << requeued
            << " build(s) re-queued after the kill); " << verified << " blobs of "
            << trees.size() * 2 << " trees read back and verified from the 2 "
            << "surviving nodes, " << lost << " lost\n";
  for (int i = 0; i < 3; ++i) {
    std::cout << "chaos: wrk on node" << i + 1 << "'s router" << (i == victim ? " (killed)" : "")
              << ": " << load[i].requests << " requests, " << load[i].failed << " failed\n";
    INFO("wrk on node" << i + 1 << ": " << wrk_out[i]);
    CHECK(load[i].requests > 0);
  }
  std::cout << "chaos: the deploys took " << deploys_ms << " ms under that load\n";
  std::cout << "chaos: probe of production on node1's router: " << failures.size() << " of "
            << probes << " failed";
  if (!failures.empty())
    std::cout << ", from " << failures.front() - killed_at << " to " << failures.back() - killed_at
              << " ms after the kill (window " << window << " ms)";
  std::cout << "\n";
  CHECK(lost == 0);
  CHECK(verified > 500);
  for (int i = 0; i < 3; ++i)
    if (i != victim) {
      CHECK(load[i].requests > 100);
      CHECK(load[i].failed == 0);
    } else {
      CHECK(load[i].failed > 0); // (wrk saw it go: the figures count what they should)
    }
  CHECK(failures.empty());
}
