#include "deployers/local/process.hpp"

#include "deployers/local/http_text.hpp"
#include "deployers/local/runtime.hpp"
#include "messages/errors.hpp"
#include "messages/json_text.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace ferry::runtime {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

int connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return -1;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

} // namespace

bool health_check(const std::string& socket_path, std::chrono::steady_clock::time_point deadline) {
  int fd = connect_unix(socket_path);
  if (fd < 0)
    return false;
  static const char req[] =
      "GET /__ferry/health HTTP/1.1\r\nHost: ferry\r\nConnection: close\r\n\r\n";
  bool ok = ::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1);
  std::string got;
  char buf[512];
  while (ok && got.size() < 12) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
      break;
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0)
      break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return got.rfind("HTTP/1.1 200", 0) == 0;
}

caf::error link_tree(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec)
    return make_error(ec::storage_error, "create " + to + ": " + ec.message());
  for (auto it = fs::recursive_directory_iterator(from, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    // (lexically: fs::relative would resolve a link and name its target)
    auto dest = fs::path(to) / it->path().lexically_relative(from);
    auto st = it->symlink_status(ec);
    if (ec)
      break;
    if (fs::is_directory(st)) {
      fs::create_directory(dest, ec);
    } else if (fs::is_symlink(st)) {
      fs::copy_symlink(it->path(), dest, ec); // (a link as it is: pnpm's node_modules)
    } else if (::link(it->path().c_str(), dest.c_str()) != 0) {
      return make_error(ec::storage_error,
                        "link " + dest.string() + ": " + std::string(std::strerror(errno)));
    }
    if (ec) // (before increment() clears it)
      break;
  }
  if (ec)
    return make_error(ec::storage_error, "link " + from + " into " + to + ": " + ec.message());
  return {};
}

process::process(const options& opts, uint64_t slot)
    : opts_(opts), slot_dir_((fs::path(opts.data_dir) / "s" / std::to_string(slot)).string()) {
  socket_ = slot_dir_ + "/sock/bridge.sock";
}

process::~process() {
  stop();
  if (stdin_w_ >= 0) // a spare waiting for its function reads EOF
    ::close(stdin_w_);
  if (listen_fd_ >= 0)
    ::close(listen_fd_);
  if (thread_.joinable())
    thread_.join(); // the run ends within seconds of stop(), started or not
  std::error_code ec;
  fs::remove_all(slot_dir_, ec);
}

bool process::start() {
  std::error_code ec;
  fs::remove_all(slot_dir_, ec);
  fs::create_directories(slot_dir_ + "/sock", ec);
  fs::create_directories(slot_dir_ + "/code", ec);
  if (ec || ::chmod((slot_dir_ + "/sock").c_str(), 0700) != 0) {
    error_ = "create " + slot_dir_ + ": " + (ec ? ec.message() : std::strerror(errno));
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof addr.sun_path) {
    error_ = "socket path " + socket_ + " is too long for a unix socket; use a shorter data dir";
    return false;
  }
  std::memcpy(addr.sun_path, socket_.c_str(), socket_.size() + 1);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 512) != 0) {
    error_ = "listen on " + socket_ + ": " + std::strerror(errno);
    return false;
  }
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    error_ = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  stdin_w_ = in[1];
  sandbox::spec s;
  s.argv = {"/usr/bin/node", "/opt/ferry/bridge/bridge.js"};
  s.pass_fds = {listen_fd_}; // at 100 inside
  s.env = {{"PATH", "/usr/bin:/bin"},
           {"HOME", "/tmp"},
           {"NODE_ENV", "production"},
           {"FERRY_POOL", "1"},
           {"FERRY_LISTEN_FD", "100"},
           {"FERRY_REQUEST_LOG", "0"},
           {"TZ", "UTC"}};
  s.ro_binds = {{opts_.bridge_dir, "/opt/ferry/bridge"}, {slot_dir_ + "/code", "/var/task"}};
  s.lim.memory_bytes = opts_.pool_memory_mb << 20;
  s.lim.pids = opts_.pids;
  s.lim.cpus = opts_.cpus;
  s.lim.wall = std::chrono::hours(24 * 365);
  s.lim.file_size = 64 << 20;
  s.name = "rt-" + fs::path(slot_dir_).filename().string(); // the cgroup adds our pid
  s.stdin_fd = in[0];
  thread_ = std::thread([this, s = std::move(s)]() mutable { run_thread(std::move(s)); });
  return true;
}

void process::run_thread(sandbox::spec spec) {
  spec.on_start = [this](pid_t, sandbox::cgroup& cg) {
    std::lock_guard<std::mutex> guard{mtx_};
    cgroup_ = &cg;
    if (pending_memory_)
      cg.set_memory_limit(pending_memory_);
  };
  auto r = sandbox::run(
      spec, [this](sandbox::stream s, std::string_view line) { on_line(s, line); }, &cancel_);
  sink_fn sink;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    cgroup_ = nullptr;
    result_ = r;
    sink = sink_;
  }
  exited_ = true;
  cv_.notify_all();
  if (sink && !cancel_)
    sink(
        json_text(json{{"level", "error"}, {"source", "runtime"}, {"instance_exit", r.describe()}}),
        true);
}

void process::on_line(sandbox::stream s, std::string_view line) {
  sink_fn sink;
  std::optional<std::string> whole; // a long line, put back together
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!ready_ && s == sandbox::stream::out && line.find("\"ready\":") != std::string_view::npos) {
      ready_ = true;
      cv_.notify_all();
      return;
    }
    if (!ready_ && line.find("\"load\":") != std::string_view::npos) {
      load_error_ = std::string(line.substr(0, 2000));
      cv_.notify_all();
    }
    sink = sink_;
    // a long line comes in pieces: put it back together (up to 1 MiB), so
    // that no secret is cut in two and left unmasked
    auto& ll = long_[s == sandbox::stream::err];
    if (line.size() == sandbox::max_line_piece) {
      if (ll.text.size() < (1 << 20))
        ll.text.append(line);
      else
        ll.cut = true;
      return;
    }
    if (!ll.text.empty() || ll.cut) {
      ll.text.append(line);
      if (ll.cut || ll.text.size() > (1 << 20)) {
        ll.text.resize(1 << 20);
        scrub_->mask(ll.text);
        // a secret the cut falls in: what is left of it goes too
        if (auto n = scrub_->open_tail(ll.text)) {
          ll.text.resize(ll.text.size() - n);
          ll.text += "[secret]";
        }
        ll.text += " [line cut at 1 MiB]";
      }
      whole = std::move(ll.text);
      ll.text.clear();
      ll.cut = false;
    }
  }
  if (sink)
    sink(whole ? std::string_view(*whole) : line, false);
}

caf::error process::assign(const function_config& f, const std::vector<std::string>& env,
                           std::shared_ptr<const masker> masks, sink_fn sink,
                           std::chrono::steady_clock::time_point deadline) {
  // Link the function into a fresh directory, then move it into place: the
  // sandbox sees code/ read-only and finds it at /var/task/fn.
  auto staged = slot_dir_ + "/fn.tmp";
  if (auto err = link_tree(f.dir, staged))
    return err;
  if (::rename(staged.c_str(), (slot_dir_ + "/code/fn").c_str()) != 0)
    return make_error(ec::storage_error, "place function: " + std::string(std::strerror(errno)));
  json vars = json::object();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (size_t i = 0; i + 1 < env.size(); i += 2)
      vars[env[i]] = env[i + 1];
    scrub_ = masks ? std::move(masks) : std::make_shared<const masker>();
    sink_ = std::move(sink);
    pending_memory_ = f.memory_mb << 20;
    if (cgroup_ && !cgroup_->set_memory_limit(pending_memory_))
      return make_error(ec::unavailable, "cannot set the memory limit of an instance");
  }
  auto job =
      json_text(json{
          {"dir", "/var/task/fn"}, {"handler", f.handler}, {"helpers", f.helpers}, {"env", vars}}) +
      "\n";
  bool wrote = ::write(stdin_w_, job.data(), job.size()) == static_cast<ssize_t>(job.size());
  ::close(stdin_w_);
  stdin_w_ = -1;
  if (!wrote)
    return make_error(ec::unavailable, "the runtime is gone: " + describe_exit());
  std::unique_lock<std::mutex> guard{mtx_};
  if (!cv_.wait_until(guard, deadline, [&] { return ready_ || exited_ || !load_error_.empty(); }))
    return make_error(ec::unavailable, "function " + f.name + " did not start in time");
  if (!ready_) {
    // (describe_exit() would take the lock held here)
    auto why = !load_error_.empty() ? load_error_
               : exited_            ? result_.describe()
                                    : std::string("running");
    scrub_->mask(why);
    return make_error(ec::unavailable, "function " + f.name + " failed to start: " + why);
  }
  guard.unlock();
  if (!health_check(socket_, deadline))
    return make_error(ec::unavailable, "function " + f.name + " failed its health check");
  return {};
}

void process::stop() {
  cancel_ = true;
}

std::string process::describe_exit() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return exited_ ? result_.describe() : std::string("running");
}

} // namespace ferry::runtime
