#include "sandbox/runner.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ferry::sandbox {

namespace {

std::vector<std::string> bwrap_args(const spec& s) {
  std::vector<std::string> a{"/usr/bin/bwrap", "--unshare-all", "--die-with-parent",
                             "--new-session",  "--clearenv",    "--hostname",
                             "sandbox",        "--ro-bind",     "/usr",
                             "/usr",           "--symlink",     "usr/lib",
                             "/lib",           "--symlink",     "usr/lib64",
                             "/lib64",         "--symlink",     "usr/bin",
                             "/bin",           "--symlink",     "usr/sbin",
                             "/sbin",          "--proc",        "/proc",
                             "--dev",          "/dev",          "--tmpfs",
                             "/tmp",           "--bind",        s.work_dir,
                             "/work",          "--chdir",       "/work"};
  if (s.network) {
    a.push_back("--share-net");
    for (auto f :
         {"/etc/resolv.conf", "/etc/hosts", "/etc/ssl", "/etc/ca-certificates", "/etc/npmrc"}) {
      a.push_back("--ro-bind-try");
      a.push_back(f);
      a.push_back(f);
    }
  }
  for (auto& [from, to] : s.ro_binds) {
    a.push_back("--ro-bind");
    a.push_back(from);
    a.push_back(to);
  }
  for (auto& [from, to] : s.rw_binds) {
    a.push_back("--bind");
    a.push_back(from);
    a.push_back(to);
  }
  for (auto& [k, v] : s.env) {
    a.push_back("--setenv");
    a.push_back(k);
    a.push_back(v);
  }
  a.push_back("--");
  a.insert(a.end(), s.argv.begin(), s.argv.end());
  return a;
}

/// Splits a pipe's bytes into lines for the callback.
struct line_buffer {
  stream which;
  std::string pending;
  void feed(const char* p, size_t n, const std::function<void(stream, std::string_view)>& f) {
    pending.append(p, n);
    size_t start = 0;
    while (true) {
      auto nl = pending.find('\n', start);
      if (nl == std::string::npos)
        break;
      f(which, std::string_view(pending).substr(start, nl - start));
      start = nl + 1;
    }
    pending.erase(0, start);
    while (pending.size() > 65536) {
      f(which, std::string_view(pending).substr(0, 65536));
      pending.erase(0, 65536);
    }
  }
  void flush(const std::function<void(stream, std::string_view)>& f) {
    if (!pending.empty())
      f(which, pending);
    pending.clear();
  }
};

} // namespace

std::string result::describe() const {
  if (!error.empty())
    return "sandbox error: " + error;
  if (canceled)
    return "killed: canceled";
  if (timed_out)
    return "killed: wall-clock limit";
  if (out_of_memory)
    return "killed: out of memory";
  if (signal)
    return "killed by signal " + std::to_string(signal) +
           (pids_limited ? " (pids limit reached)" : "");
  return "exit " + std::to_string(exit_code) + (pids_limited ? " (pids limit reached)" : "");
}

result run(const spec& s, const std::function<void(stream, std::string_view)>& on_line,
           const std::atomic<bool>* cancel) {
  result r;
  auto start = std::chrono::steady_clock::now();
  static std::atomic<uint64_t> runs{0};
  cgroup cg(s.name.empty() ? "run-" + std::to_string(runs++) : s.name,
            cgroup_limits{s.lim.memory_bytes, s.lim.pids, s.lim.cpus});
  if (!cg.error().empty()) {
    r.error = cg.error();
    if (s.stdin_fd >= 0)
      ::close(s.stdin_fd);
    return r;
  }
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    r.error = std::string("pipe: ") + std::strerror(errno);
    if (s.stdin_fd >= 0)
      ::close(s.stdin_fd);
    return r;
  }
  auto args = bwrap_args(s);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto procs = cg.procs_files();
  long max_fd = ::sysconf(_SC_OPEN_MAX); // before the child lowers it
  if (cancel && cancel->load()) {        // not started at all
    r.canceled = true;
    ::close(out[0]), ::close(out[1]), ::close(err[0]), ::close(err[1]);
    if (s.stdin_fd >= 0)
      ::close(s.stdin_fd);
    return r;
  }
  pid_t pid = fork();
  if (pid < 0) {
    r.error = std::string("fork: ") + std::strerror(errno);
    ::close(out[0]), ::close(out[1]), ::close(err[0]), ::close(err[1]);
    if (s.stdin_fd >= 0)
      ::close(s.stdin_fd);
    return r;
  }
  if (pid == 0) {
    // The child joins the cgroup itself before exec: everything bwrap
    // starts is then inside it and limited.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!join(procs))
      _exit(125);
    rlimit fsize{s.lim.file_size, s.lim.file_size};
    rlimit nofile{s.lim.open_files, s.lim.open_files};
    rlimit core{0, 0};
    setrlimit(RLIMIT_FSIZE, &fsize);
    setrlimit(RLIMIT_NOFILE, &nofile);
    setrlimit(RLIMIT_CORE, &core);
    int in = s.stdin_fd >= 0 ? s.stdin_fd : ::open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    // Nothing else of ours goes in: descriptors opened without O_CLOEXEC
    // (asio's sockets: other people's connections) would pass through bwrap.
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
      for (long fd = 3; fd < max_fd; ++fd)
        ::close(static_cast<int>(fd));
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    char* no_env[] = {nullptr};
    execve(argv[0], argv.data(), no_env);
    _exit(126);
  }
  ::close(out[1]);
  ::close(err[1]);
  if (s.stdin_fd >= 0)
    ::close(s.stdin_fd);
  if (s.on_start)
    s.on_start(pid, cg);
  line_buffer lb_out{stream::out, {}}, lb_err{stream::err, {}};
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_pipes = 2;
  auto deadline = start + s.lim.wall;
  bool killed = false;
  int status = 0;
  bool reaped = false;
  char buf[65536];
  std::chrono::steady_clock::time_point drained_by{}; // set once reaped
  while (open_pipes > 0 || !reaped) {
    if (!killed) {
      if (cancel && cancel->load()) {
        r.canceled = killed = true;
      } else if (std::chrono::steady_clock::now() >= deadline) {
        r.timed_out = killed = true;
      }
      if (killed) {
        ::kill(-pid, SIGKILL);
        cg.kill_all();
      }
    }
    if (killed && !reaped) // also a child killed before it had its own group or cgroup
      ::kill(pid, SIGKILL);
    if (reaped && open_pipes > 0 && std::chrono::steady_clock::now() > drained_by) {
      // the sandbox is gone; whatever still holds the pipes is not ours to wait for
      for (auto& f : fds)
        if (f.fd >= 0)
          ::close(f.fd), f.fd = -1;
      open_pipes = 0;
    }
    if (open_pipes > 0) {
      int n = poll(fds, 2, 50);
      for (auto& f : fds) {
        if (f.fd < 0 || !(f.revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        auto got = ::read(f.fd, buf, sizeof buf);
        auto& lb = f.fd == out[0] ? lb_out : lb_err;
        if (got > 0) {
          lb.feed(buf, static_cast<size_t>(got), on_line);
        } else if (got == 0 || errno != EINTR) {
          lb.flush(on_line);
          ::close(f.fd);
          f.fd = -1;
          --open_pipes;
        }
      }
      (void)n;
    } else {
      usleep(5000);
    }
    if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      drained_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      // bwrap is gone; anything left in the cgroup (a daemonized grandchild
      // holding the pipes, say) goes with it.
      cg.kill_all();
    }
  }
  auto usage = cg.usage();
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  r.peak_memory = usage.peak_memory;
  r.cpu_ns = usage.cpu_ns;
  r.pids_limited = usage.pids_limited;
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
    // bwrap reports a child killed by signal N as exit 128 + N.
    if (r.exit_code > 128 && r.exit_code < 128 + 65) {
      r.signal = r.exit_code - 128;
      r.exit_code = -1;
    }
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  if (r.exit_code == 125 || r.exit_code == 126)
    r.error = r.exit_code == 125 ? "cannot join the cgroup" : "cannot start bwrap";
  r.out_of_memory = usage.oom_killed || (usage.memory_limit_hit && r.signal == SIGKILL);
  if (killed) {
    r.exit_code = -1;
    r.signal = SIGKILL;
  }
  return r;
}

} // namespace ferry::sandbox
