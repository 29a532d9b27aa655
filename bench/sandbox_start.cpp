// Sandbox start: the time from sandbox::run to the end of /bin/true in a
// sandbox (cgroup, mount staging, an unprivileged id, seccomp, bwrap),
// against peers in the same run: bwrap alone with the isolation ferry had
// before it dropped privilege (root, --unshare-all, binds), and a plain
// fork and exec of /bin/true.
//
// usage: build/bench_sandbox_start [RUNS]   (as root, like ferryd)
#include "sandbox/runner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono;

namespace {

double ms_since(steady_clock::time_point t0) {
  return duration<double, std::milli>(steady_clock::now() - t0).count();
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

double exec_once(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto t0 = steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return ms_since(t0);
}

} // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 30;
  char tmpl[] = "/tmp/ferry-bench-sandbox-XXXXXX";
  std::string work = mkdtemp(tmpl);
  std::vector<double> ferry, bwrap, plain;
  for (int i = 0; i < runs; ++i) {
    ferry::sandbox::spec s;
    s.argv = {"/bin/true"};
    s.work_dir = work;
    s.env = {{"PATH", "/usr/bin:/bin"}};
    s.name = "bench-" + std::to_string(getpid()) + "-" + std::to_string(i);
    auto t0 = steady_clock::now();
    auto r = ferry::sandbox::run(s, [](ferry::sandbox::stream, std::string_view) {});
    ferry.push_back(ms_since(t0));
    if (!r.ok()) {
      std::fprintf(stderr, "sandbox run failed: %s\n", r.describe().c_str());
      return 1;
    }
    bwrap.push_back(exec_once({"/usr/bin/bwrap",
                               "--unshare-all",
                               "--die-with-parent",
                               "--new-session",
                               "--clearenv",
                               "--ro-bind",
                               "/usr",
                               "/usr",
                               "--symlink",
                               "usr/lib",
                               "/lib",
                               "--symlink",
                               "usr/lib64",
                               "/lib64",
                               "--symlink",
                               "usr/bin",
                               "/bin",
                               "--proc",
                               "/proc",
                               "--dev",
                               "/dev",
                               "--tmpfs",
                               "/tmp",
                               "--bind",
                               work,
                               "/work",
                               "--",
                               "/bin/true"}));
    plain.push_back(exec_once({"/bin/true"}));
  }
  std::filesystem::remove_all(work);
  std::printf("| measure, median of %d (ms) | ferry | peer |\n|---|---|---|\n", runs);
  std::printf(
      "| sandbox start: /bin/true in a sandbox, from run() to its end | %.1f | %.1f "
      "(bwrap alone, as root) |\n",
      median(ferry), median(bwrap));
  std::printf("| plain fork and exec of /bin/true | | %.2f |\n", median(plain));
  return 0;
}
