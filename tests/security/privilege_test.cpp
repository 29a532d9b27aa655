// Point 1 of tenant isolation: builds and functions run without privilege.
// A hostile build script and a hostile function try to remount the system
// writable, write to it and to the builders shared by every tenant, make
// namespaces, and call each system call the seccomp filter refuses.
#include "sandbox/seccomp.hpp"
#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

using namespace ferry::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string probe =
    std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/attacks/privilege/seccomp_probe.py";

/// "name errno" lines of the probe.
std::map<std::string, int> probe_results(const std::string& text) {
  std::map<std::string, int> out;
  std::istringstream in(text);
  std::string name;
  int err = 0;
  while (in >> name >> err)
    out[name] = err;
  return out;
}

/// What the filter answers each call of the probe with.
int refused_with(const std::string& call) {
  if (call.rfind("socket-", 0) == 0)
    return 97; // EAFNOSUPPORT
  return call == "clone3" || call == "io_uring_setup" ? 38 /* ENOSYS */ : 1 /* EPERM */;
}

void check_probe(const std::map<std::string, int>& got) {
  REQUIRE(got.size() >= 20);
  for (auto& [call, err] : got) {
    if (call.rfind("sync-", 0) == 0)
      continue; // (figures: sync_flushed)
    INFO(call);
    CHECK(err == refused_with(call));
  }
}

/// Whether the probe's sync() flushed the 64 MiB it wrote (most of them).
bool sync_flushed(std::map<std::string, int> got) {
  REQUIRE(got.count("sync-result"));
  CHECK(got["sync-result"] == 0); // it succeeds, either way
  INFO("dirty: " << got["sync-dirty-before"] << " KiB before sync, " << got["sync-dirty-after"]
                 << " KiB after");
  return got["sync-dirty-after"] < got["sync-dirty-before"] - (32 << 10);
}

/// The fields of /proc/PID/status of the host's process whose command line
/// is exactly marker (waiting up to 30 s for it to appear).
std::map<std::string, std::string> host_status(const std::string& marker) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& e : fs::directory_iterator("/proc")) {
      auto cmdline = read_file(e.path().string() + "/cmdline");
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (cmdline != marker + " ")
        continue;
      std::map<std::string, std::string> out;
      std::istringstream in(read_file(e.path().string() + "/status"));
      std::string line;
      while (std::getline(in, line))
        if (auto colon = line.find(':'); colon != std::string::npos)
          out[line.substr(0, colon)] = line.substr(colon + 1);
      return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("no process '" << marker << "' on the host");
  return {};
}

/// A sandbox's process as the host sees it: an unprivileged id of the
/// sandbox range (0x70000000 on), no capability, no_new_privs, filtered.
void check_on_host(const std::map<std::string, std::string>& status) {
  std::istringstream uid(status.at("Uid")), gid(status.at("Gid"));
  for (int i = 0; i < 4; ++i) { // real, effective, saved, file system
    uint64_t u = 0, g = 0;
    uid >> u;
    gid >> g;
    CHECK(u >= 0x70000000ULL);
    CHECK(g == u);
  }
  CHECK(status.at("Groups").find_first_not_of(" \t") == std::string::npos);
  CHECK(status.at("CapEff") == "\t0000000000000000");
  CHECK(status.at("NoNewPrivs") == "\t1");
  CHECK(status.at("Seccomp") == "\t2");
}

} // namespace

TEST_CASE(
    "a build script cannot remount or write the system, gain a capability or a namespace, "
    "or make a refused system call",
    "[security]") {
  tenant_cluster c;
  auto token = c.add_user("mallory");
  auto project = c.attack("privilege/build");
  fs::copy_file(probe, project + "/seccomp_probe.py");
  c.deploy_ok(project, "escape", token, {"--no-wait"});
  check_on_host(host_status("sleep 2.468"));
  c.wait_built("escape", token);
  auto log = c.build_log("escape", token);
  INFO(log);
  CHECK(log.find("GOT-THROUGH") == std::string::npos);
  for (auto what : {"remount-usr", "write-usr", "remount-builders", "write-builders",
                    "unshare-user", "unshare-mount"})
    CHECK(log.find(std::string("refused ") + what + "\n") != std::string::npos);
  CHECK(log.find("CapEff:\t0000000000000000") != std::string::npos);
  CHECK(log.find("CapPrm:\t0000000000000000") != std::string::npos);
  CHECK(log.find("CapBnd:\t0000000000000000") != std::string::npos);
  CHECK(log.find("NoNewPrivs:\t1") != std::string::npos);
  CHECK(log.find("Seccomp:\t2") != std::string::npos);
  CHECK((log.find("localhost: 127.0.0.1 ") != std::string::npos ||
         log.find("localhost: ::1 ") != std::string::npos));
  auto seccomp_at = log.find("mount ");
  REQUIRE(seccomp_at != std::string::npos);
  check_probe(probe_results(log.substr(seccomp_at)));
  CHECK_FALSE(sync_flushed(probe_results(log.substr(seccomp_at))));
  CHECK(!fs::exists("/usr/ferry-was-here"));
  CHECK(!fs::exists(std::string(FERRY_SOURCE_DIR) + "/builders/ferry-was-here"));
}

TEST_CASE(
    "a function cannot remount or write the system or its own code, gain a capability or a "
    "namespace, or make a refused system call",
    "[security]") {
  tenant_cluster c;
  auto token = c.add_user("mallory");
  auto project = c.attack("privilege/function");
  fs::copy_file(probe, project + "/seccomp_probe.py");
  auto url = c.deploy_ok(project, "escape", token);
  auto r = fetch(url + "/api/probe");
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto j = json::parse(r.body);
  for (auto what : {"remount_usr", "write_usr", "remount_task", "write_task", "unshare_user"})
    CHECK(j[what] == "refused");
  CHECK(j["CapEff"] == "0000000000000000");
  CHECK(j["NoNewPrivs"] == "1");
  CHECK(j["Seccomp"] == "2");
  CHECK(j["localhost"] == "127.0.0.1");
  check_on_host(host_status("sleep 7.654"));
  check_probe(probe_results(j["seccomp"].get<std::string>()));
  CHECK(!fs::exists("/usr/ferry-was-here"));
}

TEST_CASE("outside a sandbox an unprivileged process can make the calls the filter refuses",
          "[security]") {
  // The same probe as an unprivileged user on the host: these calls work
  // there (or fail for another reason), so the filter is what refuses them.
  tmpdir logs;
  REQUIRE(::chown(logs.path().c_str(), 1879048191, 1879048191) == 0); // (where it writes)
  auto r = run({"/usr/bin/setpriv", "--reuid", "1879048191", "--regid", "1879048191",
                "--clear-groups", "/usr/bin/python3", probe},
               {{"PATH", "/usr/bin:/bin"}, {"PROBE_DIR", logs.path()}}, logs.path());
  INFO(r.out << r.err);
  auto got = probe_results(r.out);
  for (auto call :
       {"ptrace", "keyctl", "unshare", "clone-newuser", "process_vm_readv", "kcmp", "clone3",
        "io_uring_setup", "name_to_handle_at", "socket-vsock", "fanotify_init"}) {
    INFO(call);
    REQUIRE(got.count(call));
    CHECK(got[call] != refused_with(call));
  }
  CHECK(sync_flushed(got));
  // and the filter names each of them
  auto& refused = ferry::sandbox::refused_syscalls();
  for (auto call :
       {"ptrace", "keyctl", "unshare", "process_vm_readv", "kcmp", "clone3", "io_uring_setup",
        "name_to_handle_at", "mount", "bpf", "perf_event_open", "open_by_handle_at", "kexec_load",
        "init_module", "setns", "pivot_root", "fanotify_init", "sync", "syncfs"})
    CHECK(std::find(refused.begin(), refused.end(), call) != refused.end());
}
