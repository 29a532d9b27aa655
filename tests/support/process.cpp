#include "tests/support/process.hpp"

#include "tests/support/tmpdir.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ferry::test {

namespace {
std::atomic<int> counter{0};
}

process::process(std::vector<std::string> argv, std::map<std::string, std::string> env,
                 const std::string& log_dir, const std::string& stdin_data) {
  int n = counter++;
  out_path_ = log_dir + "/proc" + std::to_string(n) + ".out";
  err_path_ = log_dir + "/proc" + std::to_string(n) + ".err";
  auto in_path = log_dir + "/proc" + std::to_string(n) + ".in";
  write_file(in_path, stdin_data);
  pid_ = fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    int in = ::open(in_path.c_str(), O_RDONLY);
    int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (auto& [k, v] : env)
      setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

process::~process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
}

std::string process::first_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto text = read_file(out_path_);
    if (auto nl = text.find('\n'); nl != std::string::npos)
      return text.substr(0, nl);
    if (!running())
      throw std::runtime_error("process exited before printing a line: " + read_file(err_path_));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("no output line in time: " + read_file(err_path_));
}

std::string process::line(size_t n, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    auto text = read_file(out_path_);
    size_t start = 0;
    for (size_t i = 0; i <= n; ++i) {
      auto nl = text.find('\n', start);
      if (nl == std::string::npos)
        break;
      if (i == n)
        return text.substr(start, nl - start);
      start = nl + 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline && running());
  return {};
}

void process::signal(int sig) {
  if (!reaped_)
    ::kill(pid_, sig);
}

bool process::running() {
  if (reaped_)
    return false;
  auto r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_)
    reaped_ = true;
  return !reaped_;
}

bool process::wait(std::chrono::milliseconds timeout, run_result* out) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (out) {
    out->exit_code = WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
    out->signal = WIFSIGNALED(status_) ? WTERMSIG(status_) : 0;
    out->out = read_file(out_path_);
    out->err = read_file(err_path_);
  }
  return true;
}

std::string process::out() const {
  return read_file(out_path_);
}

std::string process::err() const {
  return read_file(err_path_);
}

std::string last_lines(const std::string& text, size_t n) {
  auto end = text.find_last_not_of('\n') + 1; // npos + 1 == 0: all newlines
  size_t start = end;
  for (size_t k = 0; k < n && start > 0; ++k) {
    auto nl = text.rfind('\n', start - 1);
    start = nl == std::string::npos ? 0 : nl;
  }
  auto out = text.substr(start, end - start);
  if (!out.empty() && out[0] == '\n')
    out.erase(0, 1);
  for (auto& c : out)
    if (c == '\n')
      c = '/';
  return out;
}

run_result run(std::vector<std::string> argv, std::map<std::string, std::string> env,
               const std::string& log_dir, const std::string& stdin_data,
               std::chrono::milliseconds timeout) {
  process p(std::move(argv), std::move(env), log_dir, stdin_data);
  run_result r;
  if (!p.wait(timeout, &r)) {
    p.signal(SIGKILL);
    p.wait(std::chrono::seconds(5), &r);
    // what it was doing comes first: a report may show only the start
    r.err = "[killed after " + std::to_string(timeout.count() / 1000) +
            " s; its last lines: " + last_lines(r.err, 4) + " | stdout: " + last_lines(r.out, 2) +
            "]\n" + r.err;
  }
  return r;
}

} // namespace ferry::test
