#include "sandbox/cgroup.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace ferry::sandbox {

namespace fs = std::filesystem;

namespace {

constexpr const char* root = "/sys/fs/cgroup";

bool write_text(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The value after `key ` in a flat-keyed file (memory.events, oom_control).
uint64_t keyed(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v)
    if (k == key)
      return v;
  return 0;
}

uint64_t number(const std::string& text) {
  try {
    return std::stoull(text);
  } catch (...) {
    return 0;
  }
}

/// Pids listed in cgroup.procs files.
std::vector<pid_t> read_pids(const std::vector<std::string>& procs_files) {
  std::vector<pid_t> out;
  for (auto& f : procs_files) {
    std::istringstream in(read_text(f));
    pid_t pid;
    while (in >> pid)
      out.push_back(pid);
  }
  return out;
}

/// SIGKILLs what a cgroup holds (v2: its cgroup.kill first) until it is
/// empty, or 2 s pass.
void kill_members(const std::string& kill_file, const std::vector<std::string>& procs_files) {
  if (!kill_file.empty())
    write_text(kill_file, "1");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  // What is left is most often a process already on its way out (the
  // sandbox's init as its namespace ends): look again soon, then less often.
  auto pause = std::chrono::microseconds(100);
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = read_pids(procs_files);
    if (left.empty())
      return;
    for (auto pid : left)
      ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(5));
  }
}

/// Kills what is in a cgroup directory and removes it.
bool remove_cgroup_dir(const std::string& dir) {
  kill_members(dir + "/cgroup.kill", {dir + "/cgroup.procs"}); // v1 has no cgroup.kill
  return ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

/// Where ferry's cgroups are: one directory (v2) or one per controller (v1).
std::vector<std::string> ferry_dirs() {
  std::error_code ec;
  if (fs::exists(std::string(root) + "/cgroup.controllers", ec))
    return {std::string(root) + "/ferry"};
  std::vector<std::string> out;
  for (auto c : {"memory", "pids", "cpu", "cpuacct"})
    out.push_back(std::string(root) + "/" + c + "/ferry");
  return out;
}

} // namespace

size_t sweep_stale_cgroups() {
  size_t removed = 0;
  for (auto& base : ferry_dirs()) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(base, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      auto name = it->path().filename().string();
      auto dot = name.rfind('.');
      if (!it->is_directory(ec) || dot == std::string::npos || dot + 1 == name.size() ||
          name.find_first_not_of("0123456789", dot + 1) != std::string::npos)
        continue;
      auto owner = std::strtol(name.c_str() + dot + 1, nullptr, 10);
      if (owner <= 0 || ::kill(static_cast<pid_t>(owner), 0) == 0 || errno != ESRCH)
        continue; // its owner lives (or cannot be told): not ours to touch
      removed += remove_cgroup_dir(it->path().string());
    }
  }
  return removed;
}

cgroup::cgroup(const std::string& name, const cgroup_limits& limits) {
  std::error_code ec;
  v2_ = fs::exists(std::string(root) + "/cgroup.controllers", ec);
  auto make = [&](const std::string& base) -> std::string {
    auto dir = base + "/ferry/" + name + "." + std::to_string(::getpid());
    fs::create_directories(base + "/ferry", ec);
    // One that exists was left by a dead process with this pid: its limits
    // and counters are not ours (v1 even refuses a memory limit above the
    // old memory+swap one), so it goes and a fresh one is made.
    bool made = !ec && fs::create_directory(dir, ec);
    if (!made && !ec && remove_cgroup_dir(dir))
      made = fs::create_directory(dir, ec);
    if (!made) {
      error_ = "create cgroup " + dir + ": " + (ec ? ec.message() : "a stale one is in the way");
      return {};
    }
    dirs_.push_back(dir);
    procs_.push_back(dir + "/cgroup.procs");
    return dir;
  };
  if (v2_) {
    // Controllers must be enabled in every ancestor's subtree_control.
    write_text(std::string(root) + "/cgroup.subtree_control", "+memory +pids +cpu");
    fs::create_directories(std::string(root) + "/ferry", ec);
    write_text(std::string(root) + "/ferry/cgroup.subtree_control", "+memory +pids +cpu");
    auto dir = make(root);
    if (dir.empty())
      return;
    memory_dir_ = pids_dir_ = cpu_dir_ = cpuacct_dir_ = dir;
    if (limits.memory_bytes) {
      write_text(dir + "/memory.max", std::to_string(limits.memory_bytes));
      write_text(dir + "/memory.swap.max", "0");
    }
    if (limits.pids)
      write_text(dir + "/pids.max", std::to_string(limits.pids));
    if (limits.cpus > 0)
      write_text(dir + "/cpu.max",
                 std::to_string(static_cast<long>(limits.cpus * 100000)) + " 100000");
    return;
  }
  memory_dir_ = make(std::string(root) + "/memory");
  pids_dir_ = make(std::string(root) + "/pids");
  cpu_dir_ = make(std::string(root) + "/cpu");
  cpuacct_dir_ = make(std::string(root) + "/cpuacct");
  if (!error_.empty())
    return;
  if (limits.memory_bytes) {
    if (!write_text(memory_dir_ + "/memory.limit_in_bytes", std::to_string(limits.memory_bytes)))
      error_ = "set memory limit: " + std::string(std::strerror(errno));
    write_text(memory_dir_ + "/memory.memsw.limit_in_bytes", std::to_string(limits.memory_bytes));
  }
  if (limits.pids && !write_text(pids_dir_ + "/pids.max", std::to_string(limits.pids)))
    error_ = "set pids limit: " + std::string(std::strerror(errno));
  if (limits.cpus > 0) {
    write_text(cpu_dir_ + "/cpu.cfs_period_us", "100000");
    if (!write_text(cpu_dir_ + "/cpu.cfs_quota_us",
                    std::to_string(static_cast<long>(limits.cpus * 100000))))
      error_ = "set cpu limit: " + std::string(std::strerror(errno));
  }
}

cgroup::~cgroup() {
  kill_all();
  for (auto& d : dirs_)
    ::rmdir(d.c_str());
}

std::vector<pid_t> cgroup::pids() const {
  return read_pids(procs_);
}

void cgroup::kill_all() {
  kill_members(v2_ && !dirs_.empty() ? dirs_.front() + "/cgroup.kill" : "", procs_);
}

bool cgroup::set_memory_limit(uint64_t bytes) {
  auto v = std::to_string(bytes);
  if (v2_)
    return write_text(memory_dir_ + "/memory.max", v);
  // memsw must stay >= the memory limit: lower memory first when shrinking.
  bool ok = write_text(memory_dir_ + "/memory.limit_in_bytes", v);
  write_text(memory_dir_ + "/memory.memsw.limit_in_bytes", v);
  return write_text(memory_dir_ + "/memory.limit_in_bytes", v) || ok;
}

cgroup_usage cgroup::usage() const {
  cgroup_usage u;
  if (dirs_.empty())
    return u;
  if (v2_) {
    u.oom_killed = keyed(read_text(memory_dir_ + "/memory.events"), "oom_kill") > 0;
    u.memory_limit_hit = keyed(read_text(memory_dir_ + "/memory.events"), "max") > 0;
    u.pids_limited = keyed(read_text(pids_dir_ + "/pids.events"), "max") > 0;
    u.peak_memory = number(read_text(memory_dir_ + "/memory.peak"));
    u.cpu_ns = keyed(read_text(cpu_dir_ + "/cpu.stat"), "usage_usec") * 1000;
    return u;
  }
  u.oom_killed = keyed(read_text(memory_dir_ + "/memory.oom_control"), "oom_kill") > 0;
  u.memory_limit_hit = number(read_text(memory_dir_ + "/memory.failcnt")) > 0;
  u.pids_limited = keyed(read_text(pids_dir_ + "/pids.events"), "max") > 0;
  u.peak_memory = number(read_text(memory_dir_ + "/memory.max_usage_in_bytes"));
  u.cpu_ns = number(read_text(cpuacct_dir_ + "/cpuacct.usage"));
  return u;
}

bool join(const std::vector<std::string>& procs_files) {
  auto pid = std::to_string(::getpid());
  for (auto& f : procs_files)
    if (!write_text(f, pid))
      return false;
  return true;
}

} // namespace ferry::sandbox
