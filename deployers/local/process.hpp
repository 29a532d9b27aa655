#pragma once
// One sandboxed bridge process (deployers/bridge/bridge.js in pool mode):
// started ahead of need as a generic runtime, later assigned one function.
//
//   started --assign--> loading --ready line + health check--> serving
//      \_____________________\________________________________\--exit/stop--> exited
//
// Host side of its slot, DATA/runtime/s/N/ (root's; nothing in it is the
// sandbox's to change):
//   sock/  the socket the router connects to (bridge.sock): ferryd binds it
//          and hands the sandbox only the listening descriptor (fd 100), so
//          no path the router follows is a tenant's to replace
//   code/  read-only, /var/task inside: the function is linked into code/fn
//          at assignment (hard links of the exported deployment)
// Its /work and /tmp are tmpfs: what it writes counts against its memory.
#include "deployers/local/http_text.hpp"
#include "sandbox/cgroup.hpp"
#include "sandbox/runner.hpp"

#include <caf/error.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ferry::runtime {

struct function_config;
struct options;

class process {
public:
  process(const options& opts, uint64_t slot);
  ~process(); ///< kills it and removes its slot
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  /// Starts the sandbox (returns at once); false and error() if it cannot.
  bool start();
  /// Where its log lines go: a line of the function's output (its own:
  /// false; a long line whole, up to 1 MiB), or one the runtime writes
  /// about it (true). (The log masks every line: log_hub.)
  using sink_fn = std::function<void(std::string_view line, bool ours)>;
  /// Loads function f with these variables (name, value, ...) and waits
  /// until it serves and answers its health check. Its output then goes to
  /// sink; a long line cut at 1 MiB loses a secret the cut falls in, as
  /// masks finds it (every form of each variable's value of 4+ characters,
  /// but for ferry's own FERRY_ variables: http_text.hpp, secret_forms). A
  /// failure to load says why, masked the same way (for its owner's log).
  caf::error assign(const function_config& f, const std::vector<std::string>& env,
                    std::shared_ptr<const masker> masks, sink_fn sink,
                    std::chrono::steady_clock::time_point deadline);
  /// Kills it (asynchronously; exited() turns true within ~50 ms).
  void stop();
  bool exited() const { return exited_; }
  /// "killed: out of memory", "exit 1", ... once exited.
  std::string describe_exit() const;
  const std::string& socket_path() const { return socket_; }
  const std::string& error() const { return error_; }

private:
  void run_thread(sandbox::spec spec);
  void on_line(sandbox::stream s, std::string_view line);

  const options& opts_;
  std::string slot_dir_, socket_, error_;
  int stdin_w_ = -1;
  int listen_fd_ = -1; ///< the bridge's socket, listening (given to the sandbox)
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> exited_{false};
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool ready_ = false;
  std::string load_error_;
  sandbox::cgroup* cgroup_ = nullptr;
  uint64_t pending_memory_ = 0; ///< a limit set before the cgroup existed
  sandbox::result result_;
  sink_fn sink_;
  std::shared_ptr<const masker> scrub_ = std::make_shared<const masker>(); ///< finds its secrets
  struct long_line {
    std::string text; ///< the pieces of a line over max_line_piece so far
    bool cut = false; ///< past 1 MiB: the rest of that line is dropped
  };
  long_line long_[2]; ///< stdout's, stderr's: their pieces interleave
};

/// GET /__ferry/health on a unix socket: true on a 200 before the deadline.
bool health_check(const std::string& socket_path, std::chrono::steady_clock::time_point deadline);

/// Hard-links the tree at from into to (created); symlinks are copied.
caf::error link_tree(const std::string& from, const std::string& to);

} // namespace ferry::runtime
