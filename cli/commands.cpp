#include "cli/commands.hpp"

#include "cli/http_client.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry::cli {

using json = nlohmann::json;
namespace fs = std::filesystem;

int fail(const std::string& msg) {
  std::cerr << "ferry: " << msg << "\n";
  return 1;
}

int usage_error(const std::string& msg, const char* help) {
  std::cerr << "ferry: " << msg << "\n\n" << help;
  return 2;
}

bool need_login(const cli_env& env) {
  if (env.url.empty() || env.token.empty()) {
    fail("not logged in: run 'ferry login --url URL' or set FERRY_URL and FERRY_TOKEN");
    return false;
  }
  return true;
}

std::string config_path() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    return std::string(x) + "/ferry/config.json";
  const char* h = std::getenv("HOME");
  return std::string(h && *h ? h : "/tmp") + "/.config/ferry/config.json";
}

std::string human_bytes(double n) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (n >= 1000 && u < 4) {
    n /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
  return buf;
}

namespace {

std::string when(int64_t ms) {
  if (ms == 0)
    return "-";
  std::time_t t = ms / 1000;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
  return buf;
}

const char* login_help = R"(usage: ferry login --url URL [--token TOKEN]

Checks the token against the server and saves URL and token in
~/.config/ferry/config.json (mode 0600). Without --token the token is read
from standard input (for an admin: the file DATA_DIR/admin.token).
FERRY_URL and FERRY_TOKEN, when set, take precedence over the saved login.
)";

const char* ls_help = R"(usage: ferry ls [--project NAME] [--json]

Without --project: the projects you may use. With it: the project's versions,
newest last.
)";

const char* inspect_help = R"(usage: ferry inspect VERSION [--files] [--json]

Shows one version: project, number, state, tree root, size and times.
--files also lists its files from the stored tree.
)";

const char* whoami_help = R"(usage: ferry whoami [--json]

Shows the user that the current token belongs to.
)";

} // namespace

json get_json(const cli_env& env, const std::string& path, int& rc) {
  http_client c(env.url, env.token);
  auto r = c.request("GET", path);
  if (!r.ok()) {
    rc = fail(r.error_text());
    return nullptr;
  }
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    rc = fail("unreadable answer from " + env.url);
    return nullptr;
  }
  rc = 0;
  return j;
}

int cmd_login(cli_env& env, const args& a) {
  std::string url = env.url, token;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "-h" || a[i] == "--help") {
      std::cout << login_help;
      return 0;
    } else if (a[i] == "--url" && i + 1 < a.size()) {
      url = a[++i];
    } else if (a[i] == "--token" && i + 1 < a.size()) {
      token = a[++i];
    } else {
      return usage_error("unknown or incomplete option '" + a[i] + "'", login_help);
    }
  }
  if (url.empty())
    return usage_error("give --url URL", login_help);
  if (token.empty()) {
    if (isatty(0))
      std::cerr << "token: " << std::flush;
    std::getline(std::cin, token);
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
      token.pop_back();
  }
  if (token.empty())
    return fail("no token given");
  http_client c(url, token);
  auto r = c.request("GET", "/v1/whoami");
  if (!r.ok())
    return fail("login failed: " + r.error_text());
  auto who = json::parse(r.body, nullptr, false);
  auto path = config_path();
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return fail("cannot write " + path);
  auto text = json{{"url", url}, {"token", token}}.dump(2) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::fchmod(fd, 0600);
  ::close(fd);
  if (!ok)
    return fail("cannot write " + path);
  std::cerr << "ferry: logged in to " << url << " as "
            << (who.is_discarded() ? std::string("?") : who.value("user", "?")) << "\n";
  return 0;
}

int cmd_whoami(cli_env& env, const args& a) {
  for (auto& x : a) {
    if (x == "-h" || x == "--help") {
      std::cout << whoami_help;
      return 0;
    } else if (x == "--json") {
      env.json = true;
    } else {
      return usage_error("unknown option '" + x + "'", whoami_help);
    }
  }
  if (!need_login(env))
    return 1;
  int rc = 0;
  auto j = get_json(env, "/v1/whoami", rc);
  if (rc)
    return rc;
  if (env.json)
    std::cout << j.dump(2) << "\n";
  else
    std::cout << j.value("user", "") << (j.value("admin", false) ? " (admin)" : "") << "\n";
  return 0;
}

int cmd_ls(cli_env& env, const args& a) {
  std::string project;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "-h" || a[i] == "--help") {
      std::cout << ls_help;
      return 0;
    } else if (a[i] == "--project" && i + 1 < a.size()) {
      project = a[++i];
    } else if (a[i] == "--json") {
      env.json = true;
    } else if (project.empty() && !a[i].empty() && a[i][0] != '-') {
      project = a[i];
    } else {
      return usage_error("unknown or incomplete option '" + a[i] + "'", ls_help);
    }
  }
  if (!need_login(env))
    return 1;
  int rc = 0;
  if (project.empty()) {
    auto j = get_json(env, "/v1/projects", rc);
    if (rc)
      return rc;
    if (env.json) {
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    std::printf("%-32s %-16s %8s  %s\n", "PROJECT", "OWNER", "VERSIONS", "CREATED");
    for (auto& p : j["projects"])
      std::printf("%-32s %-16s %8llu  %s\n", p.value("name", "").c_str(),
                  p.value("owner", "").c_str(),
                  static_cast<unsigned long long>(p.value("versions", 0ULL)),
                  when(p.value("created_ms", 0LL)).c_str());
    return 0;
  }
  auto j = get_json(env, "/v1/projects/" + project + "/versions", rc);
  if (rc)
    return rc;
  if (env.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%-15s %5s  %-9s %8s %10s  %s\n", "VERSION", "#", "STATE", "FILES", "SIZE",
              "CREATED");
  for (auto& v : j["versions"])
    std::printf("%-15s %5llu  %-9s %8llu %10s  %s\n", v.value("id", "").c_str(),
                static_cast<unsigned long long>(v.value("number", 0ULL)),
                v.value("state", "").c_str(),
                static_cast<unsigned long long>(v.value("files", 0ULL)),
                human_bytes(static_cast<double>(v.value("bytes", 0ULL))).c_str(),
                when(v.value("created_ms", 0LL)).c_str());
  return 0;
}

int cmd_inspect(cli_env& env, const args& a) {
  std::string id;
  bool files = false;
  for (auto& x : a) {
    if (x == "-h" || x == "--help") {
      std::cout << inspect_help;
      return 0;
    } else if (x == "--json") {
      env.json = true;
    } else if (x == "--files") {
      files = true;
    } else if (id.empty() && !x.empty() && x[0] != '-') {
      id = x;
    } else {
      return usage_error("unknown option '" + x + "'", inspect_help);
    }
  }
  if (id.empty())
    return usage_error("give a VERSION id", inspect_help);
  if (!need_login(env))
    return 1;
  int rc = 0;
  auto v = get_json(env, "/v1/versions/" + id, rc);
  if (rc)
    return rc;
  json fl;
  if (files) {
    fl = get_json(env, "/v1/versions/" + id + "/files", rc);
    if (rc)
      return rc;
    v["files_list"] = fl["files"];
  }
  if (env.json) {
    std::cout << v.dump(2) << "\n";
    return 0;
  }
  std::printf(
      "version   %s\nproject   %s (#%llu)\nstate     %s\nroot      %s\nfiles     %llu (%s)\n"
      "created   %s by %s\nsealed    %s\n",
      v.value("id", "").c_str(), v.value("project", "").c_str(),
      static_cast<unsigned long long>(v.value("number", 0ULL)), v.value("state", "").c_str(),
      v.value("root", "").c_str(), static_cast<unsigned long long>(v.value("files", 0ULL)),
      human_bytes(static_cast<double>(v.value("bytes", 0ULL))).c_str(),
      when(v.value("created_ms", 0LL)).c_str(), v.value("created_by", "").c_str(),
      when(v.value("sealed_ms", 0LL)).c_str());
  if (files)
    for (auto& f : fl["files"]) {
      if (f.contains("symlink"))
        std::printf("  %s -> %s\n", f.value("path", "").c_str(), f.value("symlink", "").c_str());
      else
        std::printf("  %10s  %s%s\n",
                    human_bytes(static_cast<double>(f.value("size", 0ULL))).c_str(),
                    f.value("path", "").c_str(), f.value("executable", false) ? " *" : "");
    }
  return 0;
}

} // namespace ferry::cli
