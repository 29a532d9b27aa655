#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <thread>

#include <sys/resource.h>

namespace ferry::test {

namespace fs = std::filesystem;

tenant_cluster::tenant_cluster(const std::string& conf, std::vector<std::string> extra,
                               std::vector<std::string> wrapper) {
  write_file(home + "/.keep", "");
  if (!conf.empty()) {
    write_file(dir / "cluster.conf",
               conf + "\n[node local]\napi = 127.0.0.1:0\nroles = api, storage, build, deploy\n");
    extra.insert(extra.end(), {"--config", dir / "cluster.conf"});
  }
  node =
      std::make_unique<ferryd_node>(dir / "data", dir.path(), std::move(extra), std::move(wrapper));
  REQUIRE(!node->url.empty());
}

std::string tenant_cluster::add_user(const std::string& name) {
  auto r = node->api("POST", "/v1/users", R"({"name": ")" + name + R"("})");
  INFO(r.body);
  REQUIRE(r.status == 201);
  return nlohmann::json::parse(r.body)["token"].get<std::string>();
}

run_result tenant_cluster::deploy(const std::string& path, const std::string& project,
                                  const std::string& token, std::vector<std::string> extra) {
  std::vector<std::string> args{"deploy", path, "--project", project};
  args.insert(args.end(), extra.begin(), extra.end());
  return ferry_cli(args, node->url, token, home);
}

std::string tenant_cluster::deploy_ok(const std::string& path, const std::string& project,
                                      const std::string& token, std::vector<std::string> extra) {
  auto r = deploy(path, project, token, std::move(extra));
  INFO(r.err << "\n" << node->summary(project));
  REQUIRE(r.exit_code == 0);
  while (!r.out.empty() && r.out.back() == '\n')
    r.out.pop_back();
  return r.out;
}

nlohmann::json tenant_cluster::newest_version(const std::string& project,
                                              const std::string& token) {
  auto vs = node->api_as(token, "GET", "/v1/projects/" + project + "/versions");
  REQUIRE(vs.status == 200);
  auto list = nlohmann::json::parse(vs.body)["versions"];
  REQUIRE(!list.empty());
  nlohmann::json newest = list[0];
  for (auto& v : list)
    if (v["number"].get<uint64_t>() > newest["number"].get<uint64_t>())
      newest = v;
  return newest;
}

std::string tenant_cluster::wait_built(const std::string& project, const std::string& token) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto state = newest_version(project, token)["state"].get<std::string>();
    if (state == "built" || state == "failed" || state == "canceled")
      return state;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("the build of " << project << " did not end in 60 s");
  return {};
}

std::string tenant_cluster::build_log(const std::string& project, const std::string& token) {
  auto v = newest_version(project, token);
  auto build = v["build"].get<std::string>();
  std::string out;
  uint64_t from = 0;
  while (true) {
    auto r =
        node->api_as(token, "GET", "/v1/builds/" + build + "/logs?from=" + std::to_string(from));
    REQUIRE(r.status == 200);
    auto j = nlohmann::json::parse(r.body);
    if (j["lines"].empty())
      return out;
    for (auto& l : j["lines"])
      out += l["text"].get<std::string>() + "\n";
    from = j["next"].get<uint64_t>();
  }
}

std::string tenant_cluster::attack(const std::string& name) {
  auto flat = name;
  std::replace(flat.begin(), flat.end(), '/', '-');
  auto to = dir / ("attack-" + flat);
  fs::copy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/attacks/" + name, to,
           fs::copy_options::recursive);
  return to;
}

std::string tenant_cluster::at(const std::string& host) const {
  return "http://" + host + node->router_url.substr(node->router_url.rfind(':'));
}

uint64_t rss_mib(pid_t pid) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6)) / 1024;
  return 0;
}

void raise_own_nofile() {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);
}

fetched fetch(const std::string& url, const std::string& host, std::vector<std::string> headers) {
  std::vector<std::string> argv{"/usr/bin/curl", "-s", "-D", "-", "--max-time", "30"};
  if (!host.empty()) {
    argv.push_back("-H");
    argv.push_back("Host: " + host);
  }
  for (auto& h : headers) {
    argv.push_back("-H");
    argv.push_back(h);
  }
  argv.push_back(url);
  tmpdir logs;
  auto r = run(argv, {}, logs.path());
  fetched f;
  auto end = r.out.find("\r\n\r\n");
  f.headers = r.out.substr(0, end);
  f.body = end == std::string::npos ? "" : r.out.substr(end + 4);
  if (f.headers.size() > 12)
    f.status = std::atol(f.headers.substr(9, 3).c_str());
  return f;
}

} // namespace ferry::test
