#pragma once
// Real child processes for integration tests: stdout and stderr go to files,
// so a chatty child never blocks on a full pipe.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace ferry::test {

struct run_result {
  int exit_code = -1; ///< -1 if killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

class process {
public:
  /// Starts argv[0] with extra environment variables; logs go under log_dir.
  process(std::vector<std::string> argv, std::map<std::string, std::string> env,
          const std::string& log_dir, const std::string& stdin_data = "");
  ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const { return pid_; }
  /// The first line of stdout, waiting up to `timeout`; throws on timeout or exit.
  std::string first_line(std::chrono::milliseconds timeout);
  /// Line n (0-based) of stdout, waiting up to `timeout`; "" if none by then.
  std::string line(size_t n, std::chrono::milliseconds timeout);
  void signal(int sig);
  /// Waits for exit; false on timeout. Fills exit code / signal.
  bool wait(std::chrono::milliseconds timeout, run_result* out = nullptr);
  bool running();
  std::string out() const;
  std::string err() const;

private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string out_path_, err_path_;
};

/// The last n lines of text, joined with '/'.
std::string last_lines(const std::string& text, size_t n);

/// Runs a command to completion (killed after `timeout`) and returns its output.
run_result run(std::vector<std::string> argv, std::map<std::string, std::string> env,
               const std::string& log_dir, const std::string& stdin_data = "",
               std::chrono::milliseconds timeout = std::chrono::seconds(120));

} // namespace ferry::test
