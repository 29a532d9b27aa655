#pragma once
// Runs one command in a bubblewrap sandbox, without privilege: as an
// unprivileged host id of its own (sandbox/host_id.hpp) in its own user,
// mount, pid, ipc, uts, cgroup and network namespaces, with no capability,
// no_new_privs and a seccomp filter (sandbox/seccomp.hpp); a read-only
// system (/usr), a writable work directory at /work, a tmpfs /tmp, only the
// environment it is given, a cgroup with memory, pids and CPU limits,
// rlimits, and a wall-clock limit. Its network is loopback only, or the
// egress path it is given (sandbox/egress.hpp). When it ends, for whatever
// reason, no process of it is left. What is taken away, line by line, is
// bwrap_args() in runner.cpp.
//
//   spawn -> running --exit--> done
//               |--wall clock / cancel / limit--> killed (whole cgroup) -> done
#include "sandbox/cgroup.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::sandbox {

struct limits {
  uint64_t memory_bytes = 1ULL << 30;
  uint32_t pids = 256;
  double cpus = 1.0;
  std::chrono::milliseconds wall{10 * 60 * 1000};
  uint64_t file_size = 4ULL << 30; ///< RLIMIT_FSIZE: largest file it may write
  uint64_t open_files = 4096;      ///< RLIMIT_NOFILE
};

struct spec {
  std::vector<std::string> argv; ///< run inside the sandbox
  /// host directory, writable at /work (handed to the sandbox's id); empty:
  /// /work is a tmpfs of work_tmpfs_bytes (its pages count against the
  /// cgroup's memory: nothing of it reaches the host's disk)
  std::string work_dir;
  uint64_t work_tmpfs_bytes = 16 << 20;
  /// Descriptors the sandboxed command inherits, at 100, 101, ... inside
  /// (a listening socket made by ferryd, say); each is only duplicated.
  std::vector<int> pass_fds;
  std::map<std::string, std::string> env;                    ///< the whole environment inside
  std::vector<std::pair<std::string, std::string>> ro_binds; ///< extra host -> inside, read-only
  std::vector<std::pair<std::string, std::string>> rw_binds; ///< extra host -> inside, writable
  /// A network namespace to join (an egress path's); -1: a new one with
  /// only loopback.
  int netns_fd = -1;
  /// The unprivileged host id (uid and gid) it runs as, for a caller that
  /// prepared files for it; 0: the run takes one of its own.
  uint32_t host_id = 0;
  limits lim;
  /// Killed when the file system of this path has less free than
  /// min_free_bytes (or a tenth of its size, the less): a build that fills
  /// the disk ends before the disk does.
  std::string disk_guard;
  uint64_t min_free_bytes = 64 << 20;
  std::string name;  ///< names the cgroup; unique among this process's runs (empty: made up)
  int stdin_fd = -1; ///< read end of a pipe for stdin (taken and closed); /dev/null if -1
  /// Called in this thread once the sandbox process runs, with its cgroup
  /// (valid until run() returns): to adjust limits while it runs.
  std::function<void(pid_t, cgroup&)> on_start;
};

enum class stream { out = 1, err = 2 };

struct result {
  int exit_code = -1; ///< the command's exit status, or -1 if killed by a signal
  int signal = 0;     ///< the signal that ended it, if any
  bool timed_out = false;
  bool canceled = false;
  bool out_of_memory = false;
  bool pids_limited = false;
  bool disk_full = false; ///< killed by its disk guard
  std::string error;      ///< the sandbox itself could not be set up
  std::chrono::milliseconds elapsed{0};
  uint64_t peak_memory = 0;
  uint64_t cpu_ns = 0;

  bool ok() const { return error.empty() && exit_code == 0; }
  /// "exit 3", "killed: out of memory", "killed: wall-clock limit", ...
  std::string describe() const;
};

/// The ids a sandboxed process has inside its user namespace (mapped to its
/// host id outside).
constexpr uint32_t inside_uid = 1000;

/// A line of output longer than this arrives in pieces of exactly this size.
constexpr size_t max_line_piece = 65536;

/// Runs to the end. Output arrives line by line (a line over 64 KiB is
/// split); cancel, when set by another thread, kills the run within ~50 ms.
result run(const spec& s, const std::function<void(stream, std::string_view)>& on_line,
           const std::atomic<bool>* cancel = nullptr);

} // namespace ferry::sandbox
