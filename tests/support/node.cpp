#include "tests/support/node.hpp"

#include <csignal>
#include <filesystem>
#include <stdexcept>

namespace ferry::test {

ferryd_node::ferryd_node(std::string data_dir_, std::string log_dir, std::vector<std::string> extra,
                         std::vector<std::string> wrapper)
    : data_dir(std::move(data_dir_)),
      log_dir_(std::move(log_dir)),
      extra_(std::move(extra)),
      wrapper_(std::move(wrapper)) {
  start();
}

ferryd_node::~ferryd_node() {
  if (proc_ && proc_->running())
    terminate(std::chrono::seconds(5));
}

void ferryd_node::start() {
  std::vector<std::string> argv{FERRYD_BIN, "--data-dir", data_dir};
  bool has_listen = false, has_pool = false;
  for (auto& e : extra_) {
    has_listen = has_listen || e == "--listen";
    has_pool = has_pool || e == "--runtime-pool";
  }
  if (!has_pool) { // tests that do not serve functions need no pre-started runtimes
    argv.push_back("--runtime-pool");
    argv.push_back("0");
  }
  if (!has_listen) {
    argv.push_back("--listen");
    argv.push_back("127.0.0.1:0");
  }
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  argv.insert(argv.begin(), wrapper_.begin(), wrapper_.end());
  proc_ = std::make_unique<process>(argv, std::map<std::string, std::string>{}, log_dir_);
  auto line = proc_->first_line(std::chrono::seconds(20));
  if (line.rfind("http://", 0) == 0) {
    url = line;
    token = read_file(data_dir + "/admin.token");
    while (!token.empty() && token.back() == '\n')
      token.pop_back();
  }
  // the router's address follows at once (deploy role)
  auto second = proc_->line(1, std::chrono::milliseconds(2000));
  if (second.rfind("http://", 0) == 0)
    router_url = second;
}

void ferryd_node::kill9() {
  proc_->signal(SIGKILL);
  proc_->wait(std::chrono::seconds(10));
}

int ferryd_node::terminate(std::chrono::milliseconds timeout) {
  proc_->signal(SIGTERM);
  run_result r;
  if (!proc_->wait(timeout, &r)) {
    kill9();
    return -1;
  }
  return r.exit_code;
}

reply ferryd_node::api(const std::string& method, const std::string& path, const std::string& body,
                       const std::string& content_type) const {
  return http(method, url + path, body, token, content_type);
}

reply ferryd_node::api_as(const std::string& tok, const std::string& method,
                          const std::string& path, const std::string& body,
                          const std::string& content_type) const {
  return http(method, url + path, body, tok, content_type);
}

std::string ferryd_node::summary(const std::string& project) const {
  std::string out = "node of " + project + ": ";
  auto vs = api("GET", "/v1/projects/" + project + "/versions");
  auto j = nlohmann::json::parse(vs.body, nullptr, false);
  if (vs.status != 200 || !j.is_object() || !j["versions"].is_array())
    return out + "versions: HTTP " + std::to_string(vs.status) + " " + vs.body.substr(0, 200) +
           vs.error;
  std::string last_build;
  for (auto& v : j["versions"]) {
    out += v.value("id", "?") + " " + v.value("state", "?") + " (build " + v.value("build", "") +
           "); ";
    last_build = v.value("build", "");
  }
  if (!last_build.empty()) {
    auto b = api("GET", "/v1/builds/" + last_build + "/logs");
    auto l = nlohmann::json::parse(b.body, nullptr, false);
    out += "build " + last_build + " " + (l.is_object() ? l.value("state", "?") : "?") + ": ";
    if (l.is_object() && l["lines"].is_array()) {
      auto& lines = l["lines"];
      for (size_t i = lines.size() > 3 ? lines.size() - 3 : 0; i < lines.size(); ++i)
        out += lines[i].value("text", "") + " / ";
    }
  }
  return out;
}

run_result ferry_cli(const std::vector<std::string>& args, const std::string& url,
                     const std::string& token, const std::string& home_dir,
                     const std::string& stdin_data, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{FERRY_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> env{{"HOME", home_dir},
                                         {"XDG_CACHE_HOME", home_dir + "/.cache"},
                                         {"XDG_CONFIG_HOME", home_dir + "/.config"}};
  env["FERRY_URL"] = url; // empty counts as unset
  env["FERRY_TOKEN"] = token;
  return run(argv, env, home_dir, stdin_data, timeout);
}

void write_cluster_conf(const std::string& path, const std::string& text) {
  write_file(path, text);
  auto dir = std::filesystem::path(path).parent_path().string();
  auto r = run({FERRY_BIN, "admin", "cluster-certs", "--config", path}, {}, dir);
  if (r.exit_code != 0)
    throw std::runtime_error("ferry admin cluster-certs failed: " + r.err);
}

std::pair<std::string, std::string> api_error(const reply& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error"))
    return {"<no error body>", r.body};
  return {j["error"].value("code", ""), j["error"].value("message", "")};
}

} // namespace ferry::test
