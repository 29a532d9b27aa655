#include "cli/printable.hpp"
#include "cli/runtime_cmds.hpp"

#include "cli/http_client.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include <unistd.h>

namespace ferry::cli {

using json = nlohmann::json;

namespace {

const char* promote_help = R"(usage: ferry promote DEPLOYMENT

Moves the production alias of the deployment's project to it, once it has
passed its health check (its functions are started before it takes traffic).
The switch is atomic: every request goes to the old or the new deployment.
Prints the production URL.
)";

const char* rollback_help = R"(usage: ferry rollback [DEPLOYMENT] [--project NAME]

Moves production back: to DEPLOYMENT, or without it to the production
deployment before the current one. The project defaults to "name" in
./ferry.json. Prints the production URL.
)";

const char* alias_help = R"(usage: ferry alias set DEPLOYMENT HOST
       ferry alias rm HOST
       ferry alias ls [--project NAME] [--json]

An alias is a host name that serves a deployment. HOST is one label, which
becomes LABEL.PROJECT.DOMAIN (any name below the project's production host
is the project's), or a full name on a domain an admin assigned to the
project (ferry domain add). `set` moves it atomically once the deployment is
healthy.
)";

const char* domain_help = R"(usage: ferry domain add NAME --project NAME   (admins)
       ferry domain rm NAME                    (admins)
       ferry domain ls [--project NAME] [--json]

Assigns a domain (example.com) to a project: its aliases may then be the
name or any name below it, and no other project's. Names under the
cluster's own domain need no assignment: PROJECT.DOMAIN and everything below
it belong to the project.
)";

const char* rm_help = R"(usage: ferry rm DEPLOYMENT

Stops serving a deployment and stops its instances. A deployment that an
alias (production included) points at is refused: move the alias first.
)";

const char* env_help = R"(usage: ferry env add NAME [VALUE] [--environment ENV] [--project NAME]
       ferry env rm NAME [--environment ENV] [--project NAME]
       ferry env ls [--environment ENV] [--project NAME] [--json]

Environment variables of a project's functions, per environment (ENV is
production or preview; default production). Values are secret: sealed at
rest, injected only into running instances (never into builds, logs or
artifacts) and never shown again. Without VALUE, `add` reads it from stdin.
An instance started after a change sees it; running ones keep theirs until
they stop (scale to zero, or ferry promote).
)";

std::string project_from_cwd() {
  std::ifstream in("ferry.json");
  if (!in)
    return {};
  auto j = json::parse(in, nullptr, false);
  return j.is_object() && j.contains("name") && j["name"].is_string() ? j["name"].get<std::string>()
                                                                      : std::string{};
}

bool wants_help(const args& a) {
  for (auto& x : a)
    if (x == "-h" || x == "--help")
      return true;
  return false;
}

/// Takes "--flag VALUE" out of a; false if the flag is there without a value.
bool take_option(args& a, const std::string& flag, std::string& out) {
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] == flag) {
      if (i + 1 >= a.size())
        return false;
      out = a[i + 1];
      a.erase(a.begin() + static_cast<long>(i), a.begin() + static_cast<long>(i) + 2);
      return true;
    }
  return true;
}

bool take_flag(args& a, const std::string& flag) {
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] == flag) {
      a.erase(a.begin() + static_cast<long>(i));
      return true;
    }
  return false;
}

/// For a command of one argument: the exit status if it stops here (0 after
/// --help, 2 without exactly one argument), or -1 to go on.
int one_argument(const args& a, const char* help) {
  if (wants_help(a)) {
    std::cout << help;
    return 0;
  }
  if (a.size() != 1) {
    std::cerr << help;
    return 2;
  }
  return -1;
}

/// Prints an alias answer: its URL on stdout.
int print_alias(const http_result& r, const char* what) {
  if (!r.ok())
    return fail(r.error_text());
  auto j = json::parse(r.body, nullptr, false);
  std::cerr << "ferry: " << what << " " << j.value("host", "") << " -> "
            << j.value("deployment", "") << "\n";
  std::cout << j.value("url", j.value("host", "")) << "\n";
  return 0;
}

} // namespace

int cmd_promote(cli_env& env, const args& a) {
  if (int stop = one_argument(a, promote_help); stop >= 0)
    return stop;
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  return print_alias(c.request("POST", "/v1/versions/" + a[0] + "/promote"), "production");
}

int cmd_rollback(cli_env& env, const args& in) {
  if (wants_help(in)) {
    std::cout << rollback_help;
    return 0;
  }
  args a = in;
  std::string project;
  if (!take_option(a, "--project", project) || a.size() > 1)
    return usage_error("ferry rollback [DEPLOYMENT] [--project NAME]", rollback_help);
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  std::string deployment = a.empty() ? "" : a[0];
  if (project.empty() && !deployment.empty()) {
    auto v = c.request("GET", "/v1/versions/" + deployment);
    if (!v.ok())
      return fail(v.error_text());
    project = json::parse(v.body, nullptr, false).value("project", "");
  }
  if (project.empty())
    project = project_from_cwd();
  if (project.empty())
    return usage_error("which project? give --project NAME", rollback_help);
  json body = json::object();
  if (!deployment.empty())
    body["deployment"] = deployment;
  return print_alias(c.request("POST", "/v1/projects/" + project + "/rollback", body.dump()),
                     "production");
}

int cmd_alias(cli_env& env, const args& in) {
  if (wants_help(in) || in.empty()) {
    (in.empty() ? std::cerr : std::cout) << alias_help;
    return in.empty() ? 2 : 0;
  }
  args a = in;
  std::string project;
  if (!take_option(a, "--project", project))
    return usage_error("--project needs a NAME", alias_help);
  env.json = take_flag(a, "--json") || env.json;
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  if (a[0] == "set" && a.size() == 3) {
    auto v = c.request("GET", "/v1/versions/" + a[1]);
    if (!v.ok())
      return fail(v.error_text());
    auto proj = json::parse(v.body, nullptr, false).value("project", "");
    return print_alias(c.request("POST", "/v1/projects/" + proj + "/aliases",
                                 json{{"host", a[2]}, {"deployment", a[1]}}.dump()),
                       "alias");
  }
  if (a[0] == "rm" && a.size() == 2) {
    auto r = c.request("DELETE", "/v1/aliases/" + a[1]);
    if (!r.ok())
      return fail(r.error_text());
    std::cerr << "ferry: removed alias " << a[1] << "\n";
    return 0;
  }
  if (a[0] == "ls" && a.size() == 1) {
    if (project.empty())
      project = project_from_cwd();
    if (project.empty())
      return usage_error("which project? give --project NAME", alias_help);
    int rc = 0;
    auto j = get_json(env, "/v1/projects/" + project + "/aliases", rc);
    if (rc)
      return rc;
    if (env.json) {
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    for (auto& x : j["aliases"])
      std::cout << x.value("url", "") << "  " << x.value("deployment", "")
                << (x.value("production", false) ? "  (production)" : "") << "\n";
    return 0;
  }
  return usage_error("ferry alias set DEPLOYMENT HOST | rm HOST | ls", alias_help);
}

int cmd_domain(cli_env& env, const args& in) {
  if (wants_help(in) || in.empty()) {
    (in.empty() ? std::cerr : std::cout) << domain_help;
    return in.empty() ? 2 : 0;
  }
  args a = in;
  std::string project;
  if (!take_option(a, "--project", project))
    return usage_error("--project needs a NAME", domain_help);
  env.json = take_flag(a, "--json") || env.json;
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  if (a[0] == "add" && a.size() == 2) {
    if (project.empty())
      return usage_error("which project? give --project NAME", domain_help);
    auto r = c.request("POST", "/v1/projects/" + project + "/domains", json{{"name", a[1]}}.dump());
    if (!r.ok())
      return fail(r.error_text());
    std::cerr << "ferry: " << a[1] << " is assigned to " << project << "\n";
    return 0;
  }
  if (a[0] == "rm" && a.size() == 2) {
    auto r = c.request("DELETE", "/v1/domains/" + a[1]);
    if (!r.ok())
      return fail(r.error_text());
    std::cerr << "ferry: " << a[1] << " is assigned to no project now\n";
    return 0;
  }
  if (a[0] == "ls" && a.size() == 1) {
    int rc = 0;
    auto j =
        get_json(env, project.empty() ? "/v1/domains" : "/v1/projects/" + project + "/domains", rc);
    if (rc)
      return rc;
    if (env.json) {
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    for (auto& d : j["domains"])
      std::cout << d.value("name", "") << "  " << d.value("project", "") << "\n";
    return 0;
  }
  return usage_error("ferry domain add NAME --project P | rm NAME | ls", domain_help);
}

int cmd_rm(cli_env& env, const args& a) {
  if (int stop = one_argument(a, rm_help); stop >= 0)
    return stop;
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  auto r = c.request("DELETE", "/v1/versions/" + a[0]);
  if (!r.ok())
    return fail(r.error_text());
  std::cerr << "ferry: removed " << a[0] << "\n";
  return 0;
}

int cmd_env(cli_env& env, const args& in) {
  if (wants_help(in) || in.empty()) {
    (in.empty() ? std::cerr : std::cout) << env_help;
    return in.empty() ? 2 : 0;
  }
  args a = in;
  std::string project, environment;
  if (!take_option(a, "--project", project) || !take_option(a, "--environment", environment))
    return usage_error("--project and --environment need a value", env_help);
  env.json = take_flag(a, "--json") || env.json;
  if (project.empty())
    project = project_from_cwd();
  if (project.empty())
    return usage_error("which project? give --project NAME", env_help);
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  std::string op = a[0];
  http_result r;
  if (op == "add" && (a.size() == 2 || a.size() == 3)) {
    std::string value;
    if (a.size() == 3) {
      value = a[2];
    } else {
      if (isatty(0))
        std::cerr << "ferry: value of " << a[1] << " (then Ctrl-D): ";
      value.assign(std::istreambuf_iterator<char>(std::cin), {});
      while (!value.empty() && (value.back() == '\n' || value.back() == '\r'))
        value.pop_back();
    }
    r = c.request("POST", "/v1/projects/" + project + "/env",
                  json{{"name", a[1]},
                       {"value", value},
                       {"environment", environment.empty() ? "production" : environment}}
                      .dump());
    if (r.ok())
      std::cerr << "ferry: set " << a[1] << " ("
                << (environment.empty() ? "production" : environment) << ") of " << project << "\n";
    return r.ok() ? 0 : fail(r.error_text());
  }
  if (op == "rm" && a.size() == 2) {
    r = c.request("DELETE", "/v1/projects/" + project + "/env/" +
                                (environment.empty() ? "production" : environment) + "/" + a[1]);
    if (r.ok())
      std::cerr << "ferry: removed " << a[1] << "\n";
    return r.ok() ? 0 : fail(r.error_text());
  }
  if (op == "ls" && a.size() == 1) {
    int rc = 0;
    auto j = get_json(env,
                      "/v1/projects/" + project + "/env" +
                          (environment.empty() ? "" : "?environment=" + environment),
                      rc);
    if (rc)
      return rc;
    if (env.json) {
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    for (auto& x : j["env"])
      std::cout << x.value("name", "") << "  " << x.value("environment", "") << "  (encrypted)\n";
    return 0;
  }
  return usage_error("ferry env add NAME [VALUE] | rm NAME | ls", env_help);
}

int runtime_logs(cli_env& env, const std::string& deployment, uint64_t from, bool follow) {
  if (!need_login(env))
    return 1;
  http_client c(env.url, env.token);
  int pages = 0;
  while (true) {
    auto r = c.request("GET",
                       "/v1/versions/" + deployment + "/runtime-logs?from=" + std::to_string(from));
    if (!r.ok())
      return fail(r.error_text());
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object())
      return fail("unreadable runtime log");
    for (auto& line : j["lines"]) // (a function's output: shown, not obeyed)
      std::cout << printable(line.dump(-1, ' ', false, json::error_handler_t::replace)) << "\n";
    std::cout.flush();
    auto next = j.value("next", from);
    // without --follow: every page up to now (a page is 1,000 lines or 1 MiB
    // at most: one short of both is the end, whatever comes meanwhile)
    bool full = j["lines"].size() >= 1000 || r.body.size() >= (512 << 10);
    if (!follow && (next == from || !full || ++pages >= 256))
      return 0;
    if (next == from)
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    from = next;
  }
}

} // namespace ferry::cli
