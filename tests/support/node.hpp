#pragma once
// A real ferryd process on loopback (port 0) with its own data directory,
// and the ferry CLI run against it.
#include "tests/support/http.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tmpdir.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace ferry::test {

class ferryd_node {
public:
  /// Starts ferryd --data-dir data_dir --listen 127.0.0.1:0 plus extra args
  /// (under a wrapper command if given: prlimit --nofile=1024:1024, say).
  ferryd_node(std::string data_dir, std::string log_dir, std::vector<std::string> extra = {},
              std::vector<std::string> wrapper = {});
  ~ferryd_node();

  void start();
  /// The extra arguments of the next start().
  void set_args(std::vector<std::string> extra) { extra_ = std::move(extra); }
  /// SIGKILL and reap.
  void kill9();
  /// SIGTERM; returns the exit code, or -1 if it did not exit in time.
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(15));

  std::string url;        ///< empty for a node without the api role
  std::string router_url; ///< http://127.0.0.1:PORT of its router (deploy role)
  std::string token;      ///< the admin token (api nodes)
  std::string data_dir;
  process& proc() { return *proc_; }

  /// An API call as admin (or with the given token).
  reply api(const std::string& method, const std::string& path, const std::string& body = "",
            const std::string& content_type = "application/json") const;
  reply api_as(const std::string& token, const std::string& method, const std::string& path,
               const std::string& body = "",
               const std::string& content_type = "application/json") const;

  /// One line on what the node has of a project (its versions, their state,
  /// and the last lines of the newest one's build): for a failing test.
  std::string summary(const std::string& project) const;

private:
  std::string log_dir_;
  std::vector<std::string> extra_;
  std::vector<std::string> wrapper_;
  std::unique_ptr<process> proc_;
};

/// Runs the ferry CLI with FERRY_URL/FERRY_TOKEN set and HOME and the cache
/// pointed into home_dir; killed after timeout.
run_result ferry_cli(const std::vector<std::string>& args, const std::string& url,
                     const std::string& token, const std::string& home_dir,
                     const std::string& stdin_data = "",
                     std::chrono::milliseconds timeout = std::chrono::seconds(120));

/// Writes a cluster.conf and, with `ferry admin cluster-certs`, the
/// certificates of its nodes (in certs/ beside it); throws if that fails.
void write_cluster_conf(const std::string& path, const std::string& text);

/// The parsed error of an API reply: {"code", "message"}.
std::pair<std::string, std::string> api_error(const reply& r);

} // namespace ferry::test
