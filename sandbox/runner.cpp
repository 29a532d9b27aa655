#include "sandbox/runner.hpp"

#include "sandbox/host_id.hpp"
#include "sandbox/seccomp.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <span>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ferry::sandbox {

namespace {

/// Where the child of a run puts the host directories a sandbox binds, in a
/// mount namespace of its own: bwrap, run as the sandbox's unprivileged id,
/// could not reach them under a data directory such as /root/... (bwrap
/// resolves even --bind-fd sources by path).
const char* stage_dir() {
  static const char* dir = [] {
    for (const char* d : {"/run/ferry-sandbox", "/tmp/.ferry-sandbox"})
      if (::mkdir(d, 0755) == 0 || errno == EEXIST)
        return d;
    return "/run/ferry-sandbox";
  }();
  return dir;
}

/// The files of /etc a sandbox gets, made for it (never the host's).
const char etc_hosts[] =
    "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
    "127.0.1.1 sandbox\n";
const char etc_passwd[] =
    "root:x:0:0:root:/root:/usr/sbin/nologin\n"
    "ferry:x:1000:1000:ferry:/tmp/home:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const char etc_group[] = "root:x:0:\nferry:x:1000:\nnogroup:x:65534:\n";

/// The descriptors the child hands bwrap, in this order from 3 up; those
/// the command is given (spec::pass_fds) from 100 up.
enum child_fd { fd_seccomp = 3, fd_hosts, fd_passwd, fd_group };
constexpr int pass_fd_base = 100;

/// One host path bound into the sandbox, through the stage.
struct bind {
  std::string source, staged, dest;
  bool writable = false;
};

std::vector<bind> binds_of(const spec& s) {
  std::vector<bind> out;
  auto add = [&](const std::string& from, const std::string& to, bool rw) {
    out.push_back(bind{from, std::string(stage_dir()) + "/" + std::to_string(out.size()), to, rw});
  };
  if (!s.work_dir.empty())
    add(s.work_dir, "/work", true);
  for (auto& [from, to] : s.ro_binds)
    add(from, to, false);
  for (auto& [from, to] : s.rw_binds)
    add(from, to, true);
  return out;
}

/// The sandbox as a list of what is taken away; a line each, with its reason.
std::vector<std::string> bwrap_args(const spec& s, const std::vector<bind>& binds) {
  std::vector<std::string> a{"/usr/bin/bwrap"};
  auto add = [&](std::initializer_list<std::string> xs) { a.insert(a.end(), xs); };
  auto inside = std::to_string(inside_uid);
  // ids: a user namespace of its own, its ids mapped to one unprivileged
  // host id (the child drops to it before bwrap runs), and no other inside
  add({"--unshare-user", "--uid", inside, "--gid", inside, "--disable-userns"});
  // no capability, not even over its own namespaces
  add({"--cap-drop", "ALL"});
  // processes, IPC, host name and cgroup view of its own
  add({"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"});
  // network: loopback only, unless it joined an egress path's namespace
  if (s.netns_fd < 0)
    add({"--unshare-net"});
  // killed with its parent; no terminal to push keystrokes into; no host variable
  add({"--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"});
  // system calls that reach past its own processes and files (seccomp.cpp)
  add({"--seccomp", std::to_string(fd_seccomp)});
  // the system, read-only (Debian merges /usr)
  add({"--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64",
       "/lib64", "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin"});
  // names of its own: localhost resolves, its user has a name; public CA
  // certificates for TLS through an egress path
  add({"--ro-bind-data", std::to_string(fd_hosts), "/etc/hosts", "--ro-bind-data",
       std::to_string(fd_passwd), "/etc/passwd", "--ro-bind-data", std::to_string(fd_group),
       "/etc/group", "--ro-bind-try", "/etc/ssl", "/etc/ssl", "--ro-bind-try",
       "/etc/ca-certificates", "/etc/ca-certificates"});
  // a process table, devices and /tmp of its own (and /work, without a work dir)
  add({"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  if (s.work_dir.empty())
    add({"--size", std::to_string(s.work_tmpfs_bytes), "--tmpfs", "/work"});
  // its work directory, and what the caller binds (read-only unless asked)
  for (auto& b : binds)
    add({b.writable ? "--bind" : "--ro-bind", b.staged, b.dest});
  add({"--chdir", "/work"});
  for (auto& [k, v] : s.env)
    add({"--setenv", k, v});
  a.push_back("--");
  a.insert(a.end(), s.argv.begin(), s.argv.end());
  return a;
}

/// Writes a fixed message and a number to stderr, then exits 125: the
/// child's only way to say why the sandbox could not be set up (nothing
/// here may allocate: the parent has threads).
[[noreturn]] void child_fail(const char* what) {
  int e = errno;
  char num[16];
  int n = 0;
  do
    num[n++] = static_cast<char>('0' + e % 10);
  while ((e /= 10) > 0 && n < 15);
  static const char prefix[] = "ferry-sandbox: ";
  (void)!::write(2, prefix, sizeof prefix - 1);
  (void)!::write(2, what, std::strlen(what));
  (void)!::write(2, " (errno ", 8);
  while (n > 0)
    (void)!::write(2, &num[--n], 1);
  (void)!::write(2, ")\n", 2);
  _exit(125);
}

/// A memfd holding bytes, at the descriptor expected.
void child_memfd(int expected, const char* data, size_t size, const char* what) {
  int fd = static_cast<int>(::syscall(SYS_memfd_create, what, 0U));
  if (fd != expected)
    child_fail(what);
  while (size > 0) {
    auto n = ::write(fd, data, size);
    if (n <= 0)
      child_fail(what);
    data += n;
    size -= static_cast<size_t>(n);
  }
  if (::lseek(fd, 0, SEEK_SET) != 0)
    child_fail(what);
}

/// In a mount namespace of the child's own: a tmpfs on the stage, each
/// bind's source mounted on it.
void child_stage(const std::vector<bind>& binds) {
  if (::unshare(CLONE_NEWNS) != 0)
    child_fail("unshare the mount namespace");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    child_fail("make mounts private");
  if (::mount("ferry-stage", stage_dir(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") != 0)
    child_fail("mount the stage");
  for (auto& b : binds) {
    struct stat st;
    if (::stat(b.source.c_str(), &st) != 0)
      child_fail("find a bind's source");
    if (S_ISDIR(st.st_mode) ? ::mkdir(b.staged.c_str(), 0755) != 0
                            : ::mknod(b.staged.c_str(), S_IFREG | 0644, 0) != 0)
      child_fail("make a mount point");
    if (::mount(b.source.c_str(), b.staged.c_str(), nullptr, MS_BIND, nullptr) != 0)
      child_fail("bind a directory");
  }
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
    while (pending.size() > max_line_piece) {
      f(which, std::string_view(pending).substr(0, max_line_piece));
      pending.erase(0, max_line_piece);
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
  if (disk_full)
    return "killed: the disk is nearly full";
  if (signal)
    return "killed by signal " + std::to_string(signal) +
           (pids_limited ? " (pids limit reached)" : "");
  return "exit " + std::to_string(exit_code) + (pids_limited ? " (pids limit reached)" : "");
}

result run(const spec& s, const std::function<void(stream, std::string_view)>& on_line,
           const std::atomic<bool>* cancel) {
  result r;
  auto start = std::chrono::steady_clock::now();
  auto give_up = [&](std::string why) {
    r.error = std::move(why);
    if (s.stdin_fd >= 0)
      ::close(s.stdin_fd);
    return r;
  };
  std::string filter_error;
  const auto& filter = seccomp_program(&filter_error);
  if (filter.empty())
    return give_up("no seccomp filter: " + filter_error);
  std::optional<host_id> own_id;
  uint32_t uid = s.host_id;
  if (!uid) {
    own_id.emplace();
    uid = own_id->id();
    if (!uid)
      return give_up("every sandbox host id is in use");
  }
  // the work directory is the sandbox's (its top; the caller made what is in it)
  if (!s.work_dir.empty() &&
      (::lchown(s.work_dir.c_str(), uid, uid) != 0 || ::chmod(s.work_dir.c_str(), 0700) != 0))
    return give_up("hand " + s.work_dir + " to the sandbox: " + std::strerror(errno));
  static std::atomic<uint64_t> runs{0};
  cgroup cg(s.name.empty() ? "run-" + std::to_string(runs++) : s.name,
            cgroup_limits{s.lim.memory_bytes, s.lim.pids, s.lim.cpus});
  if (!cg.error().empty())
    return give_up(cg.error());
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    return give_up(std::string("pipe: ") + std::strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]), ::close(out[1]);
    return give_up(std::string("pipe: ") + std::strerror(errno));
  }
  auto binds = binds_of(s);
  auto args = bwrap_args(s, binds);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto procs = cg.procs_files();
  long max_fd = ::sysconf(_SC_OPEN_MAX); // before the child lowers it
  pid_t parent = ::getpid();
  if (cancel && cancel->load()) { // not started at all
    r.canceled = true;
    ::close(out[0]), ::close(out[1]), ::close(err[0]), ::close(err[1]);
    if (s.stdin_fd >= 0)
      ::close(s.stdin_fd);
    return r;
  }
  pid_t pid = fork();
  if (pid < 0) {
    ::close(out[0]), ::close(out[1]), ::close(err[0]), ::close(err[1]);
    return give_up(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Only system calls from here to exec: the parent has threads.
    setpgid(0, 0);
    int in = s.stdin_fd >= 0 ? s.stdin_fd : ::open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    // joined before exec: everything bwrap starts is inside it and limited
    if (!join(procs))
      child_fail("join the cgroup");
    rlimit fsize{s.lim.file_size, s.lim.file_size};
    rlimit nofile{s.lim.open_files, s.lim.open_files};
    rlimit core{0, 0};
    setrlimit(RLIMIT_FSIZE, &fsize);
    setrlimit(RLIMIT_NOFILE, &nofile);
    setrlimit(RLIMIT_CORE, &core);
    if (s.netns_fd >= 0 && ::setns(s.netns_fd, CLONE_NEWNET) != 0)
      child_fail("join the egress network namespace");
    child_stage(binds);
    // What it is given goes to 100, 101, ... (through numbers above them all)
    int given = static_cast<int>(s.pass_fds.size());
    for (int i = 0; i < given; ++i) {
      int high = ::fcntl(s.pass_fds[static_cast<size_t>(i)], F_DUPFD, 1000 + i);
      if (high < 0 || ::dup2(high, pass_fd_base + i) != pass_fd_base + i)
        child_fail("pass a descriptor");
    }
    // Nothing else of ours goes in: descriptors opened without O_CLOEXEC
    // (asio's sockets: other people's connections) would pass through bwrap.
    auto close_from = [&](unsigned from, unsigned to) {
      if (from <= to && ::syscall(SYS_close_range, from, to, 0U) != 0)
        for (long fd = from; fd <= static_cast<long>(to) && fd < max_fd; ++fd)
          ::close(static_cast<int>(fd));
    };
    close_from(3, pass_fd_base - 1);
    close_from(static_cast<unsigned>(pass_fd_base + given), ~0U);
    child_memfd(fd_seccomp, filter.data(), filter.size(), "seccomp filter");
    child_memfd(fd_hosts, etc_hosts, sizeof etc_hosts - 1, "hosts");
    child_memfd(fd_passwd, etc_passwd, sizeof etc_passwd - 1, "passwd");
    child_memfd(fd_group, etc_group, sizeof etc_group - 1, "group");
    // root no more: the sandbox's own unprivileged id, no supplementary group
    if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
        ::setresuid(uid, uid, uid) != 0)
      child_fail("drop to the sandbox's host id");
    // (a change of id clears the parent-death signal: set it after)
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      _exit(125);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
      child_fail("set no_new_privs");
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    char* no_env[] = {nullptr};
    execve(argv[0], argv.data(), no_env);
    child_fail("start bwrap");
  }
  ::close(out[1]);
  ::close(err[1]);
  if (s.stdin_fd >= 0)
    ::close(s.stdin_fd);
  if (s.on_start)
    s.on_start(pid, cg);
  // the child's own complaint (child_fail) is not the command's output
  std::string setup_error;
  std::function<void(stream, std::string_view)> lines = [&](stream which, std::string_view line) {
    static constexpr std::string_view ours = "ferry-sandbox: ";
    if (which == stream::err && setup_error.empty() && line.substr(0, ours.size()) == ours)
      setup_error = std::string(line.substr(ours.size()));
    else
      on_line(which, line);
  };
  line_buffer lb_out{stream::out, {}}, lb_err{stream::err, {}};
  // bwrap's end wakes the loop at once (no sleep between its pipes closing
  // and its exit); without pidfd_open, the loop looks every 5 ms instead
  int pid_fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {pid_fd, POLLIN, 0}};
  int open_pipes = 2;
  auto deadline = start + s.lim.wall;
  auto next_disk_check = start;
  bool killed = false;
  int status = 0;
  bool reaped = false;
  char buf[65536];
  std::chrono::steady_clock::time_point drained_by{}; // set once reaped
  while (open_pipes > 0 || !reaped) {
    if (!killed) {
      auto now = std::chrono::steady_clock::now();
      if (cancel && cancel->load()) {
        r.canceled = killed = true;
      } else if (now >= deadline) {
        r.timed_out = killed = true;
      } else if (!s.disk_guard.empty() && now >= next_disk_check) {
        next_disk_check = now + std::chrono::milliseconds(10);
        struct statvfs fs {};
        if (::statvfs(s.disk_guard.c_str(), &fs) == 0) {
          uint64_t size = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
          uint64_t free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
          if (free < std::min(s.min_free_bytes, size / 10))
            r.disk_full = killed = true;
        }
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
      for (auto& f : std::span(fds, 2))
        if (f.fd >= 0)
          ::close(f.fd), f.fd = -1;
      open_pipes = 0;
    }
    if (open_pipes > 0 || (!reaped && pid_fd >= 0)) {
      if (reaped)
        fds[2].fd = -1;                                     // (poll ignores a negative descriptor)
      int n = poll(fds, 3, s.disk_guard.empty() ? 50 : 10); // (a guarded disk: looked at often)
      for (auto& f : std::span(fds, 2)) {
        if (f.fd < 0 || !(f.revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        auto got = ::read(f.fd, buf, sizeof buf);
        auto& lb = f.fd == out[0] ? lb_out : lb_err;
        if (got > 0) {
          lb.feed(buf, static_cast<size_t>(got), lines);
        } else if (got == 0 || errno != EINTR) {
          lb.flush(lines);
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
  if (pid_fd >= 0)
    ::close(pid_fd);
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
  if (r.exit_code == 125)
    r.error = setup_error.empty() ? "the sandbox could not be set up" : setup_error;
  r.out_of_memory = usage.oom_killed || (usage.memory_limit_hit && r.signal == SIGKILL);
  if (killed) {
    r.exit_code = -1;
    r.signal = SIGKILL;
  }
  return r;
}

} // namespace ferry::sandbox
