// The egress proxy of one step: a network namespace, the proxy's listener
// in it, and a thread a connection (rules: egress_rules.cpp).
#include "sandbox/egress.hpp"

#include "messages/errors.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace ferry::sandbox {

namespace {

using steady = std::chrono::steady_clock;

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void answer(int fd, int status, const char* reason, const std::string& text) {
  auto body = "ferry egress: " + text + "\n";
  write_all(fd, "HTTP/1.1 " + std::to_string(status) + " " + reason +
                    "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body);
}

} // namespace

// ------------------------------------------------------------------ proxy

struct egress::impl : std::enable_shared_from_this<egress::impl> {
  egress_policy policy;
  log_fn log;
  int netns = -1;
  int listener = -1;
  int stop_pipe[2] = {-1, -1};
  std::thread acceptor;
  std::mutex mtx;
  std::condition_variable cv;
  std::set<int> open; ///< client and upstream sockets, to shut down when it stops
  size_t active = 0;
  bool stopping = false;
  std::atomic<uint64_t> refused{0}, connections{0};

  static constexpr size_t max_connections = 64;
  static constexpr size_t max_head = 16 * 1024;

  /// Stops accepting and cuts every connection; waits a while for their
  /// threads (one stuck in a name lookup keeps this alive until it ends).
  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      stopping = true;
      for (int fd : open)
        ::shutdown(fd, SHUT_RDWR);
    }
    if (stop_pipe[1] >= 0)
      (void)!::write(stop_pipe[1], "x", 1);
    if (acceptor.joinable())
      acceptor.join();
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait_for(guard, std::chrono::seconds(5), [this] { return active == 0; });
  }

  ~impl() {
    for (int fd : {listener, netns, stop_pipe[0], stop_pipe[1]})
      if (fd >= 0)
        ::close(fd);
  }

  void track(int fd, bool add) {
    std::lock_guard<std::mutex> guard{mtx};
    if (add) {
      open.insert(fd);
      if (stopping)
        ::shutdown(fd, SHUT_RDWR);
    } else {
      open.erase(fd);
    }
  }

  void refuse(int fd, int status, const char* reason, const std::string& why) {
    ++refused;
    if (log)
      log("ferry: egress refused: " + why);
    answer(fd, status, reason, why);
  }

  void accept_loop() {
    while (true) {
      pollfd p[2] = {{listener, POLLIN, 0}, {stop_pipe[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR)
        return;
      if (p[1].revents)
        return;
      if (!(p[0].revents & POLLIN))
        continue;
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      std::unique_lock<std::mutex> guard{mtx};
      if (stopping || active >= max_connections) {
        guard.unlock();
        ++refused;
        ::close(fd);
        continue;
      }
      ++active;
      guard.unlock();
      try {
        std::thread([self = shared_from_this(), fd] { self->serve(fd); }).detach();
      } catch (const std::system_error&) {
        ::close(fd);
        done();
      }
    }
  }

  void done() {
    std::lock_guard<std::mutex> guard{mtx};
    --active;
    cv.notify_all();
  }

  /// Reads the request head within 15 s; the bytes after it stay in rest.
  bool read_head(int fd, std::string& head, std::string& rest) {
    auto deadline = steady::now() + std::chrono::seconds(15);
    std::string buf;
    char chunk[4096];
    while (true) {
      auto end = buf.find("\r\n\r\n");
      if (end != std::string::npos) {
        head = buf.substr(0, end + 4);
        rest = buf.substr(end + 4);
        return true;
      }
      if (buf.size() > max_head)
        return false;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return false;
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0)
        return false;
      buf.append(chunk, static_cast<size_t>(n));
    }
  }

  /// The tunnel's first record (into rest), within 15 s.
  static client_hello read_hello(int fd, std::string& rest) {
    auto deadline = steady::now() + std::chrono::seconds(15);
    char chunk[4096];
    while (true) {
      auto hello = read_client_hello(rest);
      if (hello.kind != client_hello::incomplete || rest.size() > 16384 + 5)
        return hello;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return hello;
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0)
        return hello;
      rest.append(chunk, static_cast<size_t>(n));
    }
  }

  /// A connection to an allowed address of host:port, within 10 s; -1 and
  /// why if none.
  int connect_upstream(const proxy_request& req, std::string& why) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    auto port = std::to_string(req.port);
    if (int rc = ::getaddrinfo(req.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      why = req.host + " does not resolve: " + gai_strerror(rc);
      return -1;
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, ::freeaddrinfo);
    bool any_allowed = false;
    for (auto* a = found; a; a = a->ai_next) {
      if (!policy.address_allowed(a->ai_addr))
        continue;
      any_allowed = true;
      int fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0)
        continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        continue;
      }
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (::poll(&p, 1, 10000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
          err == 0) {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
      }
      ::close(fd);
    }
    why = any_allowed ? "cannot connect to " + req.host + ":" + port
                      : req.host +
                            " resolves only to internal addresses (loopback, private, "
                            "link-local): not without the operator's range";
    return any_allowed ? -2 : -1;
  }

  /// An address rather than a name (TLS sends no name for it).
  static bool is_ip_literal(const std::string& host) {
    unsigned char raw[16];
    return ::inet_pton(AF_INET, host.c_str(), raw) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), raw) == 1;
  }

  /// Copies n bytes from one to the other (false if from ends first).
  static bool copy_exactly(int from, int to, uint64_t n) {
    char buf[65536];
    while (n > 0) {
      pollfd p{from, POLLIN, 0};
      if (::poll(&p, 1, 120000) <= 0)
        return false;
      auto got = ::recv(from, buf, std::min<uint64_t>(sizeof buf, n), 0);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0 || !write_all(to, std::string_view(buf, static_cast<size_t>(got))))
        return false;
      n -= static_cast<uint64_t>(got);
    }
    return true;
  }

  /// Copies both ways until both ends are done, or nothing moves for 120 s
  /// (from b to a only if a_done: a has said all it may).
  static void relay(int a, int b, bool a_done = false) {
    char buf[65536];
    bool open_ab = !a_done, open_ba = true;
    while (open_ab || open_ba) {
      pollfd p[2] = {{a, static_cast<short>(open_ab ? POLLIN : 0), 0},
                     {b, static_cast<short>(open_ba ? POLLIN : 0), 0}};
      int n = ::poll(p, 2, 120000);
      if (n <= 0)
        return;
      for (int side = 0; side < 2; ++side) {
        if (!(p[side].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        int from = side == 0 ? a : b, to = side == 0 ? b : a;
        auto got = ::recv(from, buf, sizeof buf, 0);
        if (got > 0 && write_all(to, std::string_view(buf, static_cast<size_t>(got))))
          continue;
        if (got < 0 && errno == EINTR)
          continue;
        if (got < 0 || got > 0) // an error, or the other end will not take more
          return;
        ::shutdown(to, SHUT_WR);
        (side == 0 ? open_ab : open_ba) = false;
      }
    }
  }

  void serve(int fd) {
    track(fd, true);
    std::string head, rest;
    proxy_request req;
    if (read_head(fd, head, rest)) {
      ++connections;
      if (auto why = parse_proxy_request(head, req); !why.empty()) {
        refuse(fd, 400, "Bad Request", why);
      } else if (!policy.allows(req.host, req.port)) {
        refuse(fd, 403, "Forbidden",
               req.method + " " + req.host + ":" + std::to_string(req.port) +
                   " (not in the allow-list)");
      } else {
        std::string why;
        int up = connect_upstream(req, why);
        if (up < 0) {
          refuse(fd, up == -1 ? 403 : 502, up == -1 ? "Forbidden" : "Bad Gateway",
                 req.method + " " + req.host + ":" + std::to_string(req.port) + ": " + why);
        } else {
          track(up, true);
          bool ok = req.connect ? write_all(fd, "HTTP/1.1 200 Connection established\r\n\r\n")
                                : write_all(up, req.head);
          if (ok && req.connect) { // TLS, to the very name it was allowed
            auto hello = read_hello(fd, rest);
            if (hello.kind != client_hello::tls) {
              ok = false;
              ++refused;
              if (log)
                log("ferry: egress refused: a tunnel to " + req.host + " that does not speak TLS");
            } else if (hello.sni != req.host && !(hello.sni.empty() && is_ip_literal(req.host))) {
              ok = false;
              ++refused;
              if (log)
                log("ferry: egress refused: a tunnel to " + req.host + " asking for " +
                    (hello.sni.empty() ? "no name" : hello.sni.substr(0, 253)) + " (SNI)");
            }
          }
          if (ok && !req.connect) { // one request: its body, then nothing more is read
            auto first = std::min<uint64_t>(rest.size(), req.body_length);
            if (req.expects_continue && first < req.body_length) // (the host is not asked)
              ok = write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
            ok = ok && write_all(up, std::string_view(rest).substr(0, first)) &&
                 copy_exactly(fd, up, req.body_length - first);
            // (the host's side stays open: many servers drop a request whose
            // client half-closes; it closes after its answer, Connection: close)
            if (ok)
              relay(fd, up, true);
          } else if (ok && (rest.empty() || write_all(up, rest))) {
            relay(fd, up);
          }
          track(up, false);
          ::close(up);
        }
      }
    }
    track(fd, false);
    ::close(fd);
    done();
  }
};

caf::expected<std::unique_ptr<egress>> egress::open(egress_policy policy, log_fn log) {
  auto i = std::make_shared<impl>();
  i->policy = std::move(policy);
  i->log = std::move(log);
  if (::pipe2(i->stop_pipe, O_CLOEXEC) != 0)
    return make_error(ec::unavailable, std::string("pipe: ") + std::strerror(errno));
  // The namespace is made by a thread of its own (namespaces belong to a
  // thread): loopback up, the proxy's socket bound in it; the socket keeps
  // its namespace when the thread ends.
  std::string error;
  std::thread maker([&] {
    auto fail = [&](const char* what) { error = std::string(what) + ": " + std::strerror(errno); };
    if (::unshare(CLONE_NEWNET) != 0)
      return fail("new network namespace");
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    bool up = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0 &&
              (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
    if (s >= 0)
      ::close(s);
    if (!up)
      return fail("bring up loopback");
    i->listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(egress_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (i->listener < 0 || ::bind(i->listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) ||
        ::listen(i->listener, 64) != 0)
      return fail("listen in the namespace");
    i->netns = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (i->netns < 0)
      return fail("open the namespace");
  });
  maker.join();
  if (!error.empty())
    return make_error(ec::unavailable, "egress path: " + error);
  auto* raw = i.get();
  i->acceptor = std::thread([raw] { raw->accept_loop(); });
  return std::unique_ptr<egress>(new egress(std::move(i)));
}

egress::egress(std::shared_ptr<impl> i) : impl_(std::move(i)) {}

egress::~egress() {
  impl_->stop();
}

int egress::netns_fd() const {
  return impl_->netns;
}

uint64_t egress::refused() const {
  return impl_->refused;
}

uint64_t egress::connections() const {
  return impl_->connections;
}

std::vector<std::pair<std::string, std::string>> egress::proxy_env() {
  auto url = "http://127.0.0.1:" + std::to_string(egress_port) + "/";
  return {{"npm_config_proxy", url},  {"npm_config_https_proxy", url},
          {"HTTP_PROXY", url},        {"HTTPS_PROXY", url},
          {"http_proxy", url},        {"https_proxy", url},
          {"npm_config_noproxy", ""}, {"NO_PROXY", ""}};
}

} // namespace ferry::sandbox
