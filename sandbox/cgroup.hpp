#pragma once
// One cgroup per sandbox, on cgroup v1 (a directory per controller, as on
// this machine) or v2 (one unified directory), with memory, pids and CPU
// limits, counters read back after the run, and a kill of every process in it.
#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

namespace ferry::sandbox {

struct cgroup_limits {
  uint64_t memory_bytes = 0; ///< 0: no limit
  uint32_t pids = 0;         ///< 0: no limit
  double cpus = 0;           ///< CPU quota in cores; 0: no limit
};

struct cgroup_usage {
  bool oom_killed = false;       ///< the memory limit killed a process
  bool memory_limit_hit = false; ///< usage reached the limit at least once
  bool pids_limited = false;     ///< a fork failed at the pids limit
  uint64_t peak_memory = 0;
  uint64_t cpu_ns = 0;
};

class cgroup {
public:
  /// Creates ferry/<name>.<pid of this process> under every controller,
  /// fresh: one left by a dead process that had this pid is removed first.
  /// `name` is unique within this process. Empty error() on success.
  cgroup(const std::string& name, const cgroup_limits& limits);
  ~cgroup(); ///< kills what is left and removes the directories

  cgroup(const cgroup&) = delete;
  cgroup& operator=(const cgroup&) = delete;

  const std::string& error() const { return error_; }
  bool v2() const { return v2_; }
  /// The cgroup.procs files a process writes its pid to, to join.
  const std::vector<std::string>& procs_files() const { return procs_; }
  /// SIGKILLs every process in the cgroup until it is empty (or 2 s pass).
  void kill_all();
  std::vector<pid_t> pids() const;
  /// Changes the memory limit of a running cgroup (v1: memory and
  /// memory+swap, in the order the kernel accepts); false if refused.
  bool set_memory_limit(uint64_t bytes);
  cgroup_usage usage() const;

private:
  bool v2_ = false;
  std::string error_;
  std::vector<std::string> dirs_; ///< one per controller (v1) or one (v2)
  std::vector<std::string> procs_;
  std::string memory_dir_, pids_dir_, cpu_dir_, cpuacct_dir_;
};

/// Writes a pid into each procs file (to be called in the child before exec).
bool join(const std::vector<std::string>& procs_files);

/// Removes the cgroups left by processes that are gone (killed with -9, say):
/// their processes are killed, their directories removed. Returns how many.
size_t sweep_stale_cgroups();

} // namespace ferry::sandbox
