// Each sandbox limit has a test that fails if the limit is removed: the same
// command succeeds with the limit raised or the door open.
#include "sandbox/cgroup.hpp"
#include "sandbox/egress.hpp"
#include "sandbox/runner.hpp"
#include "tests/support/http.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ferry;
using namespace ferry::sandbox;
using ferry::test::tmpdir;

namespace {

struct outcome {
  result res;
  std::string out, err;
};

outcome sh(const std::string& script, const std::string& work, limits lim = {}, int netns = -1,
           std::map<std::string, std::string> env = {}, const std::atomic<bool>* cancel = nullptr) {
  static std::atomic<int> n{0};
  spec s;
  s.argv = {"/bin/sh", "-c", script};
  s.work_dir = work;
  s.env = env.empty() ? std::map<std::string, std::string>{{"PATH", "/usr/bin:/bin"}} : env;
  s.lim = lim;
  s.netns_fd = netns;
  s.name = "test-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  outcome o;
  o.res = run(
      s,
      [&](stream which, std::string_view line) {
        (which == stream::out ? o.out : o.err) += std::string(line) + "\n";
      },
      cancel);
  return o;
}

/// True if a process whose command line contains marker is alive. (The
/// bracket keeps the shell that runs pgrep from matching itself.)
bool alive(const std::string& marker) {
  auto pattern = "[" + marker.substr(0, 1) + "]" + marker.substr(1);
  return system(("pgrep -f '" + pattern + "' >/dev/null").c_str()) == 0;
}

} // namespace

TEST_CASE("a sandboxed command runs in /work with its output in lines") {
  tmpdir work;
  test::write_file(work / "in.txt", "from the host\n");
  auto o = sh("cat in.txt; echo out > made.txt; echo oops >&2; pwd; hostname; exit 3", work.path());
  INFO(o.err << o.res.describe());
  CHECK(o.res.error.empty());
  CHECK(o.res.exit_code == 3);
  CHECK(o.out == "from the host\n/work\nsandbox\n");
  CHECK(o.err == "oops\n");
  CHECK(test::read_file(work / "made.txt") == "out\n");
}

TEST_CASE("the sandbox cannot see host files outside its work directory") {
  tmpdir work, outside;
  test::write_file(outside / "secret.txt", "host secret");
  auto o = sh("cat " + outside / "secret.txt" + "; cat /etc/hostname; ls /root", work.path());
  CHECK(o.out.find("host secret") == std::string::npos);
  CHECK(o.res.exit_code != 0);
  // the same read with the file bound in works: the mount namespace is what hides it
  spec s;
  s.argv = {"/bin/cat", "/secret.txt"};
  s.work_dir = work.path();
  s.ro_binds = {{outside / "secret.txt", "/secret.txt"}};
  s.name = "test-bind-" + std::to_string(::getpid());
  std::string out;
  auto r = run(s, [&](stream, std::string_view l) { out += l; });
  CHECK(r.exit_code == 0);
  CHECK(out == "host secret");
  // and the system is read-only
  CHECK(sh("touch /usr/x", work.path()).res.exit_code != 0);
}

TEST_CASE("the environment holds only what the sandbox is given") {
  tmpdir work;
  setenv("FERRY_TEST_SECRET", "hunter2", 1);
  auto o = sh("env", work.path(), {}, -1, {{"PATH", "/usr/bin:/bin"}, {"GIVEN", "yes"}});
  unsetenv("FERRY_TEST_SECRET");
  CHECK(o.out.find("hunter2") == std::string::npos);
  CHECK(o.out.find("GIVEN=yes") != std::string::npos);
}

TEST_CASE("the network is loopback only, or an egress path that reaches only its allow-list") {
  tmpdir work;
  int listening = 0;
  int fd = test::listen_loopback(listening);
  auto port = std::to_string(listening);
  auto direct = "python3 -c \"import socket; socket.create_connection(('127.0.0.1', " + port +
                "), timeout=2); print('connected')\"";
  // CONNECT through the proxy at 127.0.0.1:3128, the only way out of an egress namespace
  auto proxied =
      "python3 -c \"import socket; s = socket.create_connection(('127.0.0.1', 3128), "
      "timeout=5); s.sendall(b'CONNECT 127.0.0.1:" +
      port + " HTTP/1.1\\r\\n\\r\\n'); print(s.recv(100).split(b'\\r')[0].decode())\"";
  auto closed = sh(direct, work.path());
  CHECK(closed.out.find("connected") == std::string::npos);
  CHECK(closed.res.exit_code != 0);
  std::vector<std::string> refusals;
  std::mutex mtx;
  auto log = [&](const std::string& line) {
    std::lock_guard<std::mutex> guard{mtx};
    refusals.push_back(line);
  };
  { // the allow-list names another host: the proxy refuses, and says so
    auto path = egress::open(egress_policy{{"registry.npmjs.org"}, {}}, log);
    REQUIRE(path);
    CHECK(sh(direct, work.path(), {}, (*path)->netns_fd()).out.find("connected") ==
          std::string::npos);
    auto o = sh(proxied, work.path(), {}, (*path)->netns_fd());
    INFO(o.err);
    CHECK(o.out == "HTTP/1.1 403 Forbidden\n");
  }
  REQUIRE(refusals.size() == 1);
  CHECK(refusals[0].find("127.0.0.1:" + port) != std::string::npos);
  { // listed, loopback range included: the tunnel opens (and only through the proxy)
    auto path = egress::open(egress_policy{{"127.0.0.1:" + port}, {"127.0.0.0/8"}}, log);
    REQUIRE(path);
    CHECK(sh(direct, work.path(), {}, (*path)->netns_fd()).out.find("connected") ==
          std::string::npos);
    auto o = sh(proxied, work.path(), {}, (*path)->netns_fd());
    INFO(o.err);
    CHECK(o.out == "HTTP/1.1 200 Connection established\n");
  }
  { // listed by name, but the name is a loopback address: refused without the range
    auto path = egress::open(egress_policy{{"127.0.0.1:" + port}, {}}, log);
    REQUIRE(path);
    auto o = sh(proxied, work.path(), {}, (*path)->netns_fd());
    CHECK(o.out == "HTTP/1.1 403 Forbidden\n");
  }
  close(fd);
}

TEST_CASE("allocating past the memory limit is killed and reported as out of memory") {
  tmpdir work;
  auto hog =
      "python3 -c \"b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); "
      "print('allocated')\"";
  limits tight;
  tight.memory_bytes = 100 << 20;
  auto o = sh(hog, work.path(), tight);
  INFO(o.err);
  CHECK(o.res.out_of_memory);
  CHECK(o.out.find("allocated") == std::string::npos);
  CHECK_THAT(o.res.describe(), Catch::Contains("out of memory"));
  limits roomy;
  roomy.memory_bytes = 600 << 20;
  auto ok = sh(hog, work.path(), roomy);
  INFO(ok.err);
  CHECK(ok.out == "allocated\n");
  CHECK_FALSE(ok.res.out_of_memory);
}

TEST_CASE("a fork loop stops at the pids limit") {
  tmpdir work;
  auto forks =
      "i=0; while [ $i -lt 60 ]; do sleep 5 & i=$((i+1)); done; echo spawned; kill $(jobs -p) "
      "2>/dev/null; wait";
  limits tight;
  tight.pids = 20;
  tight.wall = std::chrono::seconds(20);
  auto o = sh(forks, work.path(), tight);
  CHECK(o.res.pids_limited);
  CHECK(o.err.find("fork") != std::string::npos);
  limits roomy;
  roomy.pids = 200;
  auto ok = sh(forks, work.path(), roomy);
  CHECK_FALSE(ok.res.pids_limited);
  CHECK(ok.out == "spawned\n");
}

TEST_CASE("running past the wall-clock limit is killed, with every process it started") {
  tmpdir work;
  limits quick;
  quick.wall = std::chrono::milliseconds(800);
  auto o = sh("(setsid sleep 1234.5 &); sleep 30", work.path(), quick);
  CHECK(o.res.timed_out);
  CHECK(o.res.elapsed < std::chrono::seconds(5));
  CHECK_THAT(o.res.describe(), Catch::Contains("wall-clock"));
  CHECK_FALSE(alive("sleep 1234.5"));
  // a daemonized grandchild does not outlive a normal exit either
  auto bg = sh("(setsid sleep 2345.5 &); echo done", work.path());
  CHECK(bg.res.exit_code == 0);
  CHECK_FALSE(alive("sleep 2345.5"));
}

TEST_CASE("cancel kills a run at once") {
  tmpdir work;
  std::atomic<bool> cancel{false};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  auto o = sh("sleep 3456.5", work.path(), {}, -1, {}, &cancel);
  t.join();
  CHECK(o.res.canceled);
  CHECK(o.res.elapsed < std::chrono::seconds(2));
  CHECK_FALSE(alive("sleep 3456.5"));
}

TEST_CASE("cancel at any moment of the start still kills the run") {
  // Canceled right after the fork, the child had no process group or
  // cgroup of its own yet: the kills missed it and the run went on.
  tmpdir work;
  limits lim;
  lim.wall = std::chrono::seconds(10);
  for (int i = 0; i < 40; ++i) {
    std::atomic<bool> cancel{i == 0}; // the first is canceled before it starts
    std::thread t([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(100 * (i % 20)));
      cancel = true;
    });
    auto o = sh("sleep 4567.5", work.path(), lim, -1, {}, &cancel);
    t.join();
    INFO("run " << i << ": " << o.res.describe() << " in " << o.res.elapsed.count() << " ms");
    CHECK(o.res.canceled);
    CHECK(o.res.elapsed < std::chrono::seconds(3));
  }
  CHECK_FALSE(alive("sleep 4567.5"));
}

TEST_CASE("a sandbox gets none of the host process's other descriptors") {
  // asio opens its sockets without O_CLOEXEC, and bwrap passes on what it
  // gets: a function could have read other people's connections.
  int sock = ::socket(AF_INET, SOCK_STREAM, 0); // no SOCK_CLOEXEC, as asio does
  REQUIRE(sock >= 0);
  int file = ::open("/etc/hostname", O_RDONLY); // nor O_CLOEXEC
  REQUIRE(file >= 0);
  tmpdir work;
  auto o = sh("ls -l /proc/self/fd/", work.path());
  ::close(sock);
  ::close(file);
  INFO(o.out);
  CHECK(o.res.exit_code == 0);
  CHECK(o.out.find("socket:") == std::string::npos);
  CHECK(o.out.find("hostname") == std::string::npos);
  CHECK(o.out.find(" 2 -> ") != std::string::npos); // its own 0, 1, 2 are there
}

TEST_CASE("a CPU quota holds a busy loop to its share") {
  tmpdir work;
  auto spin = "timeout 1 sh -c 'while :; do :; done'; true";
  limits fifth;
  fifth.cpus = 0.2;
  auto slow = sh(spin, work.path(), fifth);
  limits whole;
  whole.cpus = 1.0;
  auto fast = sh(spin, work.path(), whole);
  INFO("cpu ns with 0.2 cores: " << slow.res.cpu_ns << ", with 1 core: " << fast.res.cpu_ns);
  CHECK(slow.res.cpu_ns < 450'000'000);
  CHECK(fast.res.cpu_ns > 600'000'000);
}

namespace {

/// ferry's cgroup directories: one (v2) or one per controller (v1).
std::vector<std::string> ferry_cgroup_dirs() {
  if (std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers"))
    return {"/sys/fs/cgroup/ferry"};
  return {"/sys/fs/cgroup/memory/ferry", "/sys/fs/cgroup/pids/ferry", "/sys/fs/cgroup/cpu/ferry",
          "/sys/fs/cgroup/cpuacct/ferry"};
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

} // namespace

TEST_CASE("a cgroup left by a dead process that had our pid is replaced, not reused") {
  // A ferryd killed with -9 leaves its cgroups; a later process with the
  // same pid made the same names and got their limits: on cgroup v1 a
  // memory limit above the old memory+swap one is refused (EINVAL).
  auto name = "stale-" + std::to_string(::getpid());
  auto suffix = "/" + name + "." + std::to_string(::getpid());
  for (auto& d : ferry_cgroup_dirs()) {
    std::filesystem::create_directories(d + suffix);
    if (d.find("/memory/") != std::string::npos) {
      write_text(d + suffix + "/memory.limit_in_bytes", std::to_string(32 << 20));
      write_text(d + suffix + "/memory.memsw.limit_in_bytes", std::to_string(32 << 20));
    } else if (d == "/sys/fs/cgroup/ferry") {
      write_text(d + suffix + "/memory.max", std::to_string(32 << 20));
    }
  }
  tmpdir work;
  spec s;
  s.argv = {"/bin/sh", "-c", "echo fresh"};
  s.work_dir = work.path();
  s.env = {{"PATH", "/usr/bin:/bin"}};
  s.lim.memory_bytes = 256 << 20;
  s.name = name;
  std::string out;
  auto r = run(s, [&](stream, std::string_view line) { out += std::string(line) + "\n"; });
  INFO(r.describe());
  CHECK(r.error.empty());
  CHECK(r.exit_code == 0);
  CHECK(out == "fresh\n");
  for (auto& d : ferry_cgroup_dirs())
    CHECK(!std::filesystem::exists(d + suffix)); // and it is gone after the run
}

TEST_CASE("cgroups of processes that are gone are swept, others are left alone") {
  pid_t child = fork();
  if (child == 0)
    _exit(0);
  REQUIRE(child > 0);
  REQUIRE(waitpid(child, nullptr, 0) == child); // its pid now names nobody
  auto dead = "/left." + std::to_string(child);
  auto live = "/mine." + std::to_string(::getpid());
  for (auto& d : ferry_cgroup_dirs()) {
    REQUIRE(std::filesystem::create_directories(d + dead));
    REQUIRE(std::filesystem::create_directories(d + live));
  }
  CHECK(sweep_stale_cgroups() >= ferry_cgroup_dirs().size());
  for (auto& d : ferry_cgroup_dirs()) {
    CHECK(!std::filesystem::exists(d + dead));
    CHECK(std::filesystem::exists(d + live));
    ::rmdir((d + live).c_str());
  }
}

TEST_CASE("a run that fills its disk is killed before the disk is full") {
  tmpdir dir;
  auto disk = dir / "disk";
  std::filesystem::create_directories(disk);
  REQUIRE(::mount("ferry-test", disk.c_str(), "tmpfs", 0, "size=256m") == 0);
  std::filesystem::create_directories(disk + "/work");
  spec s; // a megabyte at a time, as a build writes its files
  s.argv = {"/bin/sh", "-c",
            "i=0; while [ $i -lt 400 ]; do head -c 1048576 /dev/zero >> /work/fill || break; "
            "i=$((i+1)); done; echo done"};
  s.work_dir = disk + "/work";
  s.env = {{"PATH", "/usr/bin:/bin"}};
  s.disk_guard = disk + "/work";
  s.name = "test-disk-" + std::to_string(::getpid());
  std::string out;
  auto r = run(s, [&](stream, std::string_view l) { out += l; });
  INFO(r.describe() << " " << out);
  CHECK(r.disk_full);
  CHECK(r.describe() == "killed: the disk is nearly full");
  struct statvfs fs {};
  ::statvfs(disk.c_str(), &fs);
  CHECK(fs.f_bavail * fs.f_frsize > (8u << 20)); // most of the margin was left
  ::umount2(disk.c_str(), MNT_DETACH);
}

TEST_CASE("without a work directory /work is a small tmpfs of the sandbox's own") {
  spec s;
  s.argv = {"/bin/sh", "-c",
            "dd if=/dev/zero of=/work/fill bs=1M count=64 2>/dev/null; du -sm /work | cut -f1"};
  s.env = {{"PATH", "/usr/bin:/bin"}};
  s.work_tmpfs_bytes = 8 << 20;
  s.name = "test-tmpfs-" + std::to_string(::getpid());
  std::string out;
  auto r = run(s, [&](stream which, std::string_view l) {
    if (which == stream::out)
      out += l;
  });
  INFO(r.describe());
  CHECK(r.error.empty());
  CHECK(std::stoi(out) <= 8);
}

TEST_CASE("an egress tunnel carries TLS to the very name it asked for") {
  tmpdir work;
  int listening = 0;
  int fd = test::listen_loopback(listening);
  auto port = std::to_string(listening);
  // a ClientHello for a name: python builds one with the ssl module
  auto hello = [&](const std::string& connect_to, const std::string& sni) {
    return "python3 -c \"import socket, ssl; s = socket.create_connection(('127.0.0.1', 3128)); "
           "s.sendall(b'CONNECT " +
           connect_to +
           " HTTP/1.1\\\\r\\\\n\\\\r\\\\n'); print(s.recv(100).split(b'\\\\r')[0].decode()); "
           "c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = "
           "ssl.CERT_NONE; i, o = ssl.MemoryBIO(), ssl.MemoryBIO(); t = c.wrap_bio(i, o, "
           "server_hostname='" +
           sni +
           "');\ntry: t.do_handshake()\nexcept ssl.SSLWantReadError: pass\ns.sendall(o.read()); "
           "s.settimeout(2);\ntry: print('answer', len(s.recv(100)))\nexcept Exception as e: "
           "print('closed', type(e).__name__)\"";
  };
  std::vector<std::string> refusals;
  std::mutex mtx;
  auto log = [&](const std::string& line) {
    std::lock_guard<std::mutex> guard{mtx};
    refusals.push_back(line);
  };
  auto path = egress::open(egress_policy{{"localhost:" + port}, {"127.0.0.0/8"}}, log);
  REQUIRE(path);
  auto other = sh(hello("localhost:" + port, "evil.example"), work.path(), {}, (*path)->netns_fd());
  INFO(other.out << other.err);
  CHECK(other.out.find("HTTP/1.1 200") != std::string::npos);
  CHECK(other.out.find("answer 0") != std::string::npos); // closed, nothing forwarded
  int accepted = ::accept(fd, nullptr, nullptr);
  char buf[16];
  CHECK((accepted < 0 || ::recv(accepted, buf, sizeof buf, MSG_DONTWAIT) <= 0));
  if (accepted >= 0)
    ::close(accepted);
  REQUIRE(!refusals.empty());
  CHECK(refusals.back().find("asking for evil.example (SNI)") != std::string::npos);
  close(fd);
}
