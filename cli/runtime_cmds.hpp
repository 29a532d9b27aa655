#pragma once
// Commands about what serves: promote, rollback, alias, domain, rm, env, and the
// runtime log of a deployment (ferry logs DEPLOYMENT --runtime).
#include "cli/commands.hpp"

namespace ferry::cli {

int cmd_promote(cli_env& env, const args& a);
int cmd_rollback(cli_env& env, const args& a);
int cmd_alias(cli_env& env, const args& a);
int cmd_domain(cli_env& env, const args& a);
int cmd_rm(cli_env& env, const args& a);
int cmd_env(cli_env& env, const args& a);
/// The runtime log of a deployment from line `from` (following it if asked).
int runtime_logs(cli_env& env, const std::string& deployment, uint64_t from, bool follow);

} // namespace ferry::cli
