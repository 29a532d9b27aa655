// ferry logs / cancel / rebuild / restart, and following a build's log.
#include "cli/builds.hpp"

#include "cli/printable.hpp"

#include "cli/http_client.hpp"
#include "cli/runtime_cmds.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

namespace ferry::cli {

using json = nlohmann::json;

namespace {

const char* logs_help = R"(usage: ferry logs VERSION|BUILD [--follow] [--from N] [--json]
       ferry logs DEPLOYMENT --runtime [--follow] [--from N]

Prints a build's log (of a version: its latest build) from line N on.
--follow keeps printing until the build ends, and rides out dropped
connections; the exit status is then 0 only if the build succeeded.

With --runtime: the deployment's runtime log, one JSON object per line:
every request the router served (source "router": method, path, status,
ms), the output of its functions (source "function") and the runtime's own
errors (crashes, timeouts). Secret values never appear in it. --follow
keeps printing new lines until interrupted.
)";

const char* cancel_help = R"(usage: ferry cancel BUILD

Stops a queued or running build: its whole process tree within 2 s, the slot
wiped and reused, the state canceled.
)";

const char* rebuild_help = R"(usage: ferry rebuild VERSION [--no-cache] [--no-wait]

Builds a sealed version again, without uploading anything; follows the log
until it ends (unless --no-wait). --no-cache builds without the dependency
cache. `ferry restart BUILD` rebuilds the version of that build.
)";

bool finished(const std::string& s) {
  return s == "built" || s == "failed" || s == "canceled";
}

/// A build id for a version or build id argument.
std::string resolve_build(http_client& c, const std::string& arg, std::string& err) {
  if (!arg.empty() && arg[0] == 'b' && arg.size() == 17)
    return arg;
  auto r = c.request("GET", "/v1/versions/" + arg);
  if (!r.ok()) {
    err = r.error_text();
    return {};
  }
  auto v = json::parse(r.body, nullptr, false);
  auto id = v.is_discarded() ? std::string() : v.value("build", std::string());
  if (id.empty())
    err = "version " + arg + " has no build";
  return id;
}

} // namespace

std::string follow_build(const cli_env& env, const std::string& first, uint64_t from, bool follow,
                         bool as_json, std::ostream& text) {
  http_client c(env.url, env.token);
  std::string build = first;
  int failures = 0;
  std::string state;
  while (true) {
    auto r = c.request("GET", "/v1/builds/" + build + "/logs?from=" + std::to_string(from));
    if (!r.ok()) {
      // a dropped connection or a restarting node: resume from the same line
      if ((!r.transport_error.empty() || r.status == 503) && follow && ++failures < 30) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      std::cerr << "ferry: logs: " << r.error_text() << "\n";
      return {};
    }
    failures = 0;
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded())
      return {};
    if (auto now = j.value("build", build); now != build) {
      // its node was lost and the build placed again: follow the new one
      std::cerr << "ferry: build " << build << " was lost with its node; following " << now << "\n";
      build = now;
      from = 0;
      continue;
    }
    for (auto& l : j["lines"]) {
      if (as_json)
        std::cout << l.dump() << "\n";
      else
        text << (l.value("stream", 0) == 2 ? "  ! " : "  | ") << printable(l.value("text", ""))
             << "\n";
    }
    std::cout.flush();
    from = j.value("next", from);
    state = j.value("state", "");
    if (j.value("more", false))
      continue; // the rest of a long log, at once
    if (!follow || finished(state))
      return state;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
}

int cmd_logs(cli_env& env, const args& a) {
  std::string target;
  bool follow = false, runtime = false;
  uint64_t from = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "-h" || a[i] == "--help") {
      std::cout << logs_help;
      return 0;
    } else if (a[i] == "--runtime") {
      runtime = true;
    } else if (a[i] == "--follow" || a[i] == "-f") {
      follow = true;
    } else if (a[i] == "--json") {
      env.json = true;
    } else if (a[i] == "--from" && i + 1 < a.size()) {
      from = std::strtoull(a[++i].c_str(), nullptr, 10);
    } else if (target.empty() && !a[i].empty() && a[i][0] != '-') {
      target = a[i];
    } else {
      return usage_error("unknown or incomplete option '" + a[i] + "'", logs_help);
    }
  }
  if (target.empty())
    return usage_error("give a VERSION or BUILD", logs_help);
  if (runtime)
    return runtime_logs(env, target, from, follow);
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  std::string err;
  auto build = resolve_build(c, target, err);
  if (build.empty())
    return fail(err);
  auto state = follow_build(env, build, from, follow, env.json, std::cout); // the log is the data
  if (state.empty())
    return 1;
  if (follow)
    std::cerr << "ferry: build " << build << " " << state << "\n";
  return !follow || state == "built" ? 0 : 1;
}

int cmd_cancel(cli_env& env, const args& a) {
  if (a.size() != 1 || a[0] == "-h" || a[0] == "--help") {
    std::cout << cancel_help;
    return a.size() == 1 ? 0 : 2;
  }
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  std::string err;
  auto build = resolve_build(c, a[0], err);
  if (build.empty())
    return fail(err);
  auto r = c.request("POST", "/v1/builds/" + build + "/cancel");
  if (!r.ok())
    return fail(r.error_text());
  // wait for the end, so that "canceled" means the processes are gone
  auto state = follow_build(env, build, UINT64_MAX, true, false);
  std::cerr << "ferry: build " << build << " " << state << "\n";
  return state == "canceled" ? 0 : 1;
}

int cmd_rebuild(cli_env& env, const args& a, bool restart) {
  std::string target;
  bool no_cache = false, wait = true;
  for (auto& x : a) {
    if (x == "-h" || x == "--help") {
      std::cout << rebuild_help;
      return 0;
    } else if (x == "--no-cache") {
      no_cache = true;
    } else if (x == "--no-wait") {
      wait = false;
    } else if (target.empty() && !x.empty() && x[0] != '-') {
      target = x;
    } else {
      return usage_error("unknown option '" + x + "'", rebuild_help);
    }
  }
  if (target.empty())
    return usage_error(restart ? "give a BUILD" : "give a VERSION", rebuild_help);
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  auto version = target;
  if (restart) {
    auto r = c.request("GET", "/v1/builds/" + target);
    if (!r.ok())
      return fail(r.error_text());
    version = json::parse(r.body).value("version", "");
  }
  auto r =
      c.request("POST", "/v1/versions/" + version + "/build" + (no_cache ? "?no_cache=1" : ""));
  if (!r.ok())
    return fail(r.error_text());
  auto b = json::parse(r.body, nullptr, false);
  auto id = b.value("id", std::string());
  std::cout << id << "\n";
  if (!wait)
    return 0;
  auto state = follow_build(env, id, 0, true, false);
  std::cerr << "ferry: build " << id << " " << state << "\n";
  return state == "built" ? 0 : 1;
}

namespace {
const char* download_help = R"(usage: ferry download VERSION [-o DIR]

Downloads the output of the version's build (static files, functions,
config.json: the layout of builders/README.md) into DIR (default:
./VERSION-output), which must not exist or be empty.
)";
} // namespace

int cmd_download(cli_env& env, const args& a) {
  std::string version, dir;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "-h" || a[i] == "--help") {
      std::cout << download_help;
      return 0;
    } else if (a[i] == "-o" && i + 1 < a.size()) {
      dir = a[++i];
    } else if (version.empty() && !a[i].empty() && a[i][0] != '-') {
      version = a[i];
    } else {
      return usage_error("unknown or incomplete option '" + a[i] + "'", download_help);
    }
  }
  if (version.empty())
    return usage_error("give a VERSION", download_help);
  if (!need_login(env))
    return 1;
  if (dir.empty())
    dir = version + "-output";
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec))
    return fail("'" + dir + "' exists and is not empty");
  http_client c(env.url, env.token);
  auto r = c.request("GET", "/v1/versions/" + version + "/artifact");
  if (!r.ok())
    return fail(r.error_text());
  std::filesystem::create_directories(dir, ec);
  auto tar_path = dir + "/.ferry-download.tar";
  {
    std::ofstream out(tar_path, std::ios::binary);
    out.write(r.body.data(), static_cast<std::streamsize>(r.body.size()));
  }
  // GNU tar refuses absolute paths and ".." members by itself.
  auto cmd = "tar -xf '" + tar_path + "' -C '" + dir + "' --no-same-owner";
  int rc = std::system(cmd.c_str());
  std::filesystem::remove(tar_path, ec);
  if (rc != 0)
    return fail("cannot unpack the output into '" + dir + "'");
  std::cerr << "ferry: downloaded the output of " << version << " ("
            << human_bytes(static_cast<double>(r.body.size())) << ") into " << dir << "\n";
  std::cout << dir << "\n";
  return 0;
}

} // namespace ferry::cli
