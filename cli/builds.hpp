#pragma once
// Builds from the command line: logs, cancel, rebuild, restart.
#include "cli/commands.hpp"

#include <cstdint>
#include <iostream>
#include <string>

namespace ferry::cli {

/// Prints a build's log lines from `from` on (to stderr, or JSON lines to
/// stdout); with follow, until the build ends. Returns the last state seen
/// ("" if the log could not be read).
std::string follow_build(const cli_env& env, const std::string& build, uint64_t from, bool follow,
                         bool as_json, std::ostream& text = std::cerr);

int cmd_logs(cli_env& env, const args& a);

int cmd_cancel(cli_env& env, const args& a);
int cmd_rebuild(cli_env& env, const args& a, bool restart);
int cmd_download(cli_env& env, const args& a);

} // namespace ferry::cli
