#pragma once
// A TCP listener with one thread per connection, a cap on connections and a
// watchdog: what the API server serves on (the router has its own event
// loops, deployers/local/router.cpp). Blocking socket
// reads ignore SO_RCVTIMEO under asio (it polls again), so the watchdog
// shuts down sockets whose deadline has passed; their blocked reads fail.
#include "messages/errors.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

namespace ferry {

/// Opens, binds and listens an acceptor (of any executor) on host:port;
/// the port bound (port 0 picks a free one).
template <class Acceptor>
caf::expected<uint16_t> listen_on(Acceptor& acceptor, const std::string& host, uint16_t port) {
  using tcp = boost::asio::ip::tcp;
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(host, ec);
  if (ec)
    return make_error(ec::bad_request, "bad listen address '" + host + "'");
  tcp::endpoint ep{addr, port};
  acceptor.open(ep.protocol(), ec);
  if (!ec)
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    acceptor.bind(ep, ec);
  if (!ec)
    acceptor.listen(1024, ec);
  if (ec)
    return make_error(ec::unavailable,
                      "listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  return acceptor.local_endpoint().port();
}

/// When the process is out of descriptors, a listener answers the
/// connection that waits longest with this 503 and closes it, through one
/// descriptor kept in reserve for the purpose: a client is told, never left
/// hanging in the backlog. (Call once at start to set the reserve aside.)
void shed_connection(int listen_fd, std::string_view response);

/// A whole HTTP/1.1 503 answer with a JSON error body, for shed_connection.
std::string busy_response(std::string_view code, std::string_view message);

/// Counts the connections of each client address against a cap.
class client_counter {
public:
  explicit client_counter(size_t max_per_client) : max_(max_per_client) {}
  /// Counts one more connection of address; false (not counted) if it has its cap.
  bool add(const std::string& address);
  void remove(const std::string& address);

private:
  size_t max_;
  std::mutex mtx_;
  std::map<std::string, size_t> open_;
};

/// Bytes of request bodies being read, all together and per key (a user, a
/// client address): a body that would pass either bound is refused at once
/// (503), so that no one client holds the memory of all the others.
class body_budget {
public:
  body_budget(uint64_t total, uint64_t per_key) : total_max_(total), key_max_(per_key) {}

  /// Part of the budget, held until destroyed.
  class hold {
  public:
    hold() = default;
    hold(body_budget* b, std::string key, uint64_t n) : b_(b), key_(std::move(key)), n_(n) {}
    hold(hold&& o) noexcept : b_(o.b_), key_(std::move(o.key_)), n_(o.n_) { o.b_ = nullptr; }
    hold& operator=(hold&& o) noexcept;
    hold(const hold&) = delete;
    hold& operator=(const hold&) = delete;
    ~hold();
    explicit operator bool() const { return b_ != nullptr; }
    /// Holds n bytes in all (a body that grows as it arrives): false, and
    /// no more held, if they would pass a bound.
    bool grow(uint64_t n);

  private:
    body_budget* b_ = nullptr;
    std::string key_;
    uint64_t n_ = 0;
  };

  /// n bytes for key; an empty hold if they would pass a bound. (A hold of
  /// 0 bytes is not empty: it grows.)
  hold take(const std::string& key, uint64_t n);

private:
  void give(const std::string& key, uint64_t n);
  bool more(const std::string& key, uint64_t n);
  uint64_t total_max_, key_max_;
  std::mutex mtx_;
  uint64_t total_ = 0;
  std::map<std::string, uint64_t> by_key_;
};

/// One open connection as the watchdog sees it.
struct watched_conn {
  int fd = -1;
  std::atomic<int64_t> deadline_ms{INT64_MAX}; ///< cut the connection after this

  static int64_t now_ms();
  void idle_for(int64_t ms) { deadline_ms = now_ms() + ms; }
};

class http_listener {
public:
  using tcp = boost::asio::ip::tcp;
  /// Serves one accepted connection until it ends (on its own thread).
  using serve_fn = std::function<void(tcp::socket&, watched_conn&)>;
  /// Answers a connection over the cap (then closed).
  using busy_fn = std::function<void(tcp::socket&)>;

  http_listener(size_t max_connections, size_t max_per_client, serve_fn serve, busy_fn busy);
  ~http_listener();

  /// Binds and starts accepting; the bound port.
  caf::expected<uint16_t> start(const std::string& host, uint16_t port);
  /// Stops accepting, shuts every connection down and waits for their threads.
  void stop();

private:
  void accept_loop();
  void watch();
  void run(std::unique_ptr<tcp::socket> sock, std::string client);

  size_t max_connections_;
  client_counter clients_;
  serve_fn serve_;
  busy_fn busy_;
  boost::asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::thread accept_thread_, watchdog_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::set<watched_conn*> conns_;
  size_t active_ = 0;
  std::atomic<bool> stopping_{false};
};

} // namespace ferry
