// ferry: the command-line client of a ferry cluster. See `ferry --help`.
#include "cli/builds.hpp"
#include "cli/commands.hpp"
#include "cli/http_client.hpp"
#include "cli/runtime_cmds.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include <unistd.h>

using namespace ferry::cli;

namespace {

const char* help = R"(usage: ferry COMMAND [OPTIONS]

Deploy a project to a ferry cluster: only the files that changed travel, and
every deploy becomes an immutable, numbered version.

commands:
  login     save the server URL and your token
  deploy    upload a directory, build it, print its new URL (--prod: and promote it)
  promote   move the production alias to a deployment (after its health check)
  rollback  move production back to the deployment before (or a given one)
  alias     set, remove or list the host names that serve deployments
  domain    assign a domain to a project (admins), or list them
  rm        stop serving a deployment
  env       a project's secret environment variables (add, rm, ls)
  ls        list your projects, or the versions of one
  inspect   show one version (and its files)
  logs      a build's log, or with --runtime a deployment's requests and output
  cancel    stop a build
  rebuild   build a sealed version again, without uploading (restart BUILD: the same)
  download  the output of a version's build
  whoami    show who the token belongs to
  admin     an operator's local work: cluster-certs makes the actor port's
            certificates for the nodes of a cluster.conf

Every command takes --help. Environment: FERRY_URL and FERRY_TOKEN override
the saved login. Data goes to stdout, messages to stderr; exit status 0 means
success, 1 a failed operation, 2 a usage error.
)";

void load_env(cli_env& env) {
  std::ifstream in(config_path());
  if (in) {
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
      env.url = j.value("url", "");
      env.token = j.value("token", "");
    }
  }
  if (const char* u = std::getenv("FERRY_URL"); u && *u)
    env.url = u;
  if (const char* t = std::getenv("FERRY_TOKEN"); t && *t)
    env.token = t;
  env.tty = isatty(2);
}

/// A deployment's URL (http://ID-PROJECT.DOMAIN:PORT/...) stands for its
/// id wherever a command takes one; anything else stays as it is.
std::string deployment_arg(const std::string& arg) {
  auto scheme = arg.find("://");
  if (arg.rfind("http", 0) != 0 || scheme == std::string::npos)
    return arg;
  auto host = arg.substr(scheme + 3);
  auto label = host.substr(0, host.find_first_of(".:/"));
  if (label.size() > 14 && label[13] == '-')
    return label.substr(0, 13);
  return arg;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << help;
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::cout << help;
    return 0;
  }
  if (cmd == "--version") {
    std::cout << "ferry 0.1.0\n";
    return 0;
  }
  args rest(argv + 2, argv + argc);
  if (cmd == "admin") {
    int rc = cmd_admin(rest);
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(rc);
  }
  if (cmd != "login" && cmd != "deploy")
    for (auto& x : rest)
      x = deployment_arg(x);
  http_global_init();
  cli_env env;
  load_env(env);
  int rc = 2;
  if (cmd == "login")
    rc = cmd_login(env, rest);
  else if (cmd == "promote")
    rc = cmd_promote(env, rest);
  else if (cmd == "rollback")
    rc = cmd_rollback(env, rest);
  else if (cmd == "alias")
    rc = cmd_alias(env, rest);
  else if (cmd == "domain")
    rc = cmd_domain(env, rest);
  else if (cmd == "rm")
    rc = cmd_rm(env, rest);
  else if (cmd == "env")
    rc = cmd_env(env, rest);
  else if (cmd == "deploy")
    rc = cmd_deploy(env, rest);
  else if (cmd == "ls")
    rc = cmd_ls(env, rest);
  else if (cmd == "inspect")
    rc = cmd_inspect(env, rest);
  else if (cmd == "whoami")
    rc = cmd_whoami(env, rest);
  else if (cmd == "logs")
    rc = cmd_logs(env, rest);
  else if (cmd == "cancel")
    rc = cmd_cancel(env, rest);
  else if (cmd == "rebuild")
    rc = cmd_rebuild(env, rest, false);
  else if (cmd == "restart")
    rc = cmd_rebuild(env, rest, true);
  else if (cmd == "download")
    rc = cmd_download(env, rest);
  else
    std::cerr << "ferry: unknown command '" << cmd << "'\n\n" << help;
  // Nothing is left to clean up that the kernel does not: skip the
  // destructors of large maps and the unloading of three dozen libraries.
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(rc);
}
