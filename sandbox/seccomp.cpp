#include "sandbox/seccomp.hpp"

#include <seccomp.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ferry::sandbox {

namespace {

struct refusal {
  const char* name;
  int errno_value;
  const char* why;
};

// A tenant's code needs none of these; each is a way out of the sandbox or
// into the kernel's riskier corners. (Without a capability, the kernel
// refuses several of them anyway: the filter is the second lock.)
const refusal refusals[] = {
    {"mount", EPERM, "remount a read-only bind writable, or mount over the system"},
    {"umount2", EPERM, "uncover what a mount hides"},
    {"pivot_root", EPERM, "change the root the sandbox was given"},
    {"chroot", EPERM, "change the root the sandbox was given"},
    {"move_mount", EPERM, "the new mount API: the same as mount"},
    {"open_tree", EPERM, "the new mount API: clone a mount"},
    {"fsopen", EPERM, "the new mount API: a file system context"},
    {"fsconfig", EPERM, "the new mount API"},
    {"fsmount", EPERM, "the new mount API"},
    {"fspick", EPERM, "the new mount API: reconfigure a mount"},
    {"mount_setattr", EPERM, "change a mount's flags (read-only) directly"},
    {"unshare", EPERM, "new namespaces: a user namespace gives back every capability"},
    {"setns", EPERM, "join another namespace"},
    {"clone3", ENOSYS, "its flags are behind a pointer the filter cannot read: libc falls back"},
    {"ptrace", EPERM, "read or steer another process"},
    {"process_vm_readv", EPERM, "read another process's memory"},
    {"process_vm_writev", EPERM, "write another process's memory"},
    {"kcmp", EPERM, "compare kernel objects of other processes"},
    {"bpf", EPERM, "kernel programs: a large attack surface"},
    {"perf_event_open", EPERM, "performance counters: side channels and kernel bugs"},
    {"userfaultfd", EPERM, "stalls the kernel at will: a tool of exploits"},
    {"keyctl", EPERM, "the kernel keyring is not namespaced"},
    {"add_key", EPERM, "the kernel keyring is not namespaced"},
    {"request_key", EPERM, "the kernel keyring is not namespaced"},
    {"kexec_load", EPERM, "load a new kernel"},
    {"kexec_file_load", EPERM, "load a new kernel"},
    {"reboot", EPERM, "the machine is not the tenant's"},
    {"init_module", EPERM, "load kernel modules"},
    {"finit_module", EPERM, "load kernel modules"},
    {"delete_module", EPERM, "unload kernel modules"},
    {"open_by_handle_at", EPERM, "opens files by handle, around the mount namespace"},
    {"name_to_handle_at", EPERM, "the handles open_by_handle_at takes"},
    {"swapon", EPERM, "the machine's swap"},
    {"swapoff", EPERM, "the machine's swap"},
    {"acct", EPERM, "process accounting is the host's"},
    {"syslog", EPERM, "the kernel log holds other tenants' traces"},
    {"quotactl", EPERM, "disk quotas are the host's"},
    {"quotactl_fd", EPERM, "disk quotas are the host's"},
    {"lookup_dcookie", EPERM, "kernel profiling"},
    {"uselib", EPERM, "obsolete loader call"},
    {"vhangup", EPERM, "hang up a terminal"},
    {"settimeofday", EPERM, "the clock is the host's"},
    {"clock_settime", EPERM, "the clock is the host's"},
    {"clock_adjtime", EPERM, "the clock is the host's"},
    {"iopl", EPERM, "raw I/O ports"},
    {"ioperm", EPERM, "raw I/O ports"},
    {"modify_ldt", EPERM, "16-bit segments: old exploit material"},
    {"io_uring_setup", ENOSYS,
     "io_uring bypasses the filter for the calls it queues: libuv falls back"},
    {"io_uring_enter", ENOSYS, "io_uring"},
    {"io_uring_register", ENOSYS, "io_uring"},
    {"fanotify_init", EPERM, "watch the file accesses of a whole mount (other tenants' too)"},
    // flushing every file system of the host is not a tenant's to ask: it
    // succeeds and does nothing (fsync of its own files still works)
    {"sync", 0, "flush every file system of the host, again and again"},
    {"syncfs", 0, "flush a whole file system the host shares"},
};

/// clone() flags that make a new namespace.
const unsigned long namespace_flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                         CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

std::string build(std::string& error) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    error = "seccomp_init failed";
    return {};
  }
  auto fail = [&](const std::string& why) {
    error = why;
    seccomp_release(ctx);
    return std::string{};
  };
  for (auto& r : refusals) {
    int nr = seccomp_syscall_resolve_name(r.name);
    if (nr == __NR_SCMP_ERROR)
      continue; // not a call of this architecture
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(r.errno_value), nr, 0); rc != 0)
      return fail(std::string("seccomp rule for ") + r.name + ": " + std::strerror(-rc));
  }
  // clone() makes threads and processes (allowed) or namespaces (refused)
  for (auto flag : namespace_flags)
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
        rc != 0)
      return fail(std::string("seccomp rule for clone: ") + std::strerror(-rc));
  // sockets: local, IPv4, IPv6 and netlink (libc asks it for interfaces);
  // any other family refused: vsock reaches the hypervisor around every
  // network namespace, and the rest are kernel code a tenant has no use for
  for (auto call : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
    for (int family = 0; family < 64; ++family) {
      if (family == AF_UNIX || family == AF_INET || family == AF_INET6 || family == AF_NETLINK)
        continue;
      if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1,
                                    SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family)));
          rc != 0)
        return fail(std::string("seccomp rule for socket: ") + std::strerror(-rc));
    }
    if (int rc =
            seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1, SCMP_A0(SCMP_CMP_GE, 64));
        rc != 0)
      return fail(std::string("seccomp rule for socket: ") + std::strerror(-rc));
  }
  // TIOCSTI pushes keystrokes into a terminal's input (the kernel reads the
  // request as 32 bits: compare only those)
  if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                                SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCSTI));
      rc != 0)
    return fail(std::string("seccomp rule for ioctl: ") + std::strerror(-rc));
  int fd = ::memfd_create("ferry-seccomp", MFD_CLOEXEC);
  if (fd < 0)
    return fail(std::string("memfd_create: ") + std::strerror(errno));
  int rc = seccomp_export_bpf(ctx, fd);
  seccomp_release(ctx);
  if (rc != 0) {
    ::close(fd);
    error = std::string("seccomp_export_bpf: ") + std::strerror(-rc);
    return {};
  }
  std::string program;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    program.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (program.empty() || program.size() % 8 != 0)
    error = "seccomp_export_bpf wrote no program";
  return program;
}

} // namespace

const std::vector<std::string>& refused_syscalls() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (auto& r : refusals)
      out.emplace_back(r.name);
    return out;
  }();
  return names;
}

const std::string& seccomp_program(std::string* error) {
  static std::string program, why;
  static std::once_flag once;
  std::call_once(once, [] { program = build(why); });
  if (error)
    *error = why;
  return program;
}

} // namespace ferry::sandbox
