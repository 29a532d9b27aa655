#pragma once
// A real ferryd that several tenants deploy to, for the attack tests: each
// test plays a hostile tenant against it the way one would, from a
// project's build script, a function, the CLI or raw HTTP.
#include "tests/support/node.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace ferry::test {

struct tenant_cluster {
  tmpdir dir;
  std::string home = dir / "home";
  std::unique_ptr<ferryd_node> node;

  /// A one-node ferryd; conf (if any) is written as its cluster.conf, with a
  /// [node local] section of every role added; under a wrapper command if given.
  explicit tenant_cluster(const std::string& conf = "", std::vector<std::string> extra = {},
                          std::vector<std::string> wrapper = {});

  /// A new user (not an admin); its token.
  std::string add_user(const std::string& name);

  /// `ferry deploy PATH --project P [extra]` as the holder of token.
  run_result deploy(const std::string& path, const std::string& project, const std::string& token,
                    std::vector<std::string> extra = {});
  /// The same, required to succeed: the deployment's URL.
  std::string deploy_ok(const std::string& path, const std::string& project,
                        const std::string& token, std::vector<std::string> extra = {});

  /// Waits (60 s at most) until the newest version of a project is built or
  /// failed; its state.
  std::string wait_built(const std::string& project, const std::string& token);
  /// Every line of the newest build of a project's newest version, joined by '\n'.
  std::string build_log(const std::string& project, const std::string& token);
  /// The newest version of a project as JSON.
  nlohmann::json newest_version(const std::string& project, const std::string& token);

  /// A copy of tests/fixtures/attacks/NAME in the test's directory; its path.
  std::string attack(const std::string& name);

  /// http://HOST:ROUTERPORT for a host name under the router.
  std::string at(const std::string& host) const;
};

/// Resident memory of a process, in MiB.
uint64_t rss_mib(pid_t pid);

/// This test process's descriptor limit raised to its hard limit.
void raise_own_nofile();

/// GET url with a Host header (and extra headers "Name: value"), through curl:
/// the status, the headers and the body.
struct fetched {
  long status = 0;
  std::string headers;
  std::string body;
};
fetched fetch(const std::string& url, const std::string& host = "",
              std::vector<std::string> headers = {});

} // namespace ferry::test
