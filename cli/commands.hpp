#pragma once
// The ferry CLI's commands. Data goes to stdout, messages to stderr; the exit
// status is 0 only on success (1: the operation failed, 2: bad usage).
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace ferry::cli {

/// Where to reach ferryd and as whom: FERRY_URL / FERRY_TOKEN, else what
/// `ferry login` saved in ~/.config/ferry/config.json (mode 0600).
struct cli_env {
  std::string url;
  std::string token;
  bool json = false;
  bool tty = false; ///< stderr is a terminal: show progress bars
};

using args = std::vector<std::string>;

int cmd_login(cli_env& env, const args& a);
int cmd_whoami(cli_env& env, const args& a);
int cmd_deploy(cli_env& env, const args& a);
int cmd_ls(cli_env& env, const args& a);
int cmd_inspect(cli_env& env, const args& a);
/// ferry admin cluster-certs: local files, no server.
int cmd_admin(const args& a);

/// Prints "ferry: msg" on stderr and returns 1.
int fail(const std::string& msg);
/// Prints a usage error and returns 2.
int usage_error(const std::string& msg, const char* help);
/// False (after printing why) if url or token is missing.
bool need_login(const cli_env& env);
/// GET path and parse it; on failure prints why, sets rc (else 0) and
/// returns null.
nlohmann::json get_json(const cli_env& env, const std::string& path, int& rc);
/// The path of the saved login.
std::string config_path();
/// "1.2 MB" etc.
std::string human_bytes(double n);

} // namespace ferry::cli
