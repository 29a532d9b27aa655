#include "actors/http_listener.hpp"

#include "messages/errors.hpp"

#include <chrono>

#include <sys/socket.h>

namespace ferry {

namespace asio = boost::asio;

int64_t watched_conn::now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

http_listener::http_listener(size_t max_connections, serve_fn serve, busy_fn busy)
    : max_connections_(max_connections), serve_(std::move(serve)), busy_(std::move(busy)) {}

http_listener::~http_listener() {
  stop();
}

caf::expected<uint16_t> http_listener::start(const std::string& host, uint16_t port) {
  auto bound = listen_on(acceptor_, host, port);
  if (!bound)
    return bound;
  accept_thread_ = std::thread([this] { accept_loop(); });
  watchdog_ = std::thread([this] { watch(); });
  return bound;
}

void http_listener::stop() {
  if (stopping_.exchange(true))
    return;
  boost::system::error_code ec;
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
  acceptor_.close(ec);
  if (accept_thread_.joinable())
    accept_thread_.join();
  if (watchdog_.joinable())
    watchdog_.join();
  std::unique_lock<std::mutex> guard{mtx_};
  for (auto* c : conns_)
    ::shutdown(c->fd, SHUT_RDWR);
  cv_.wait_for(guard, std::chrono::seconds(5), [this] { return active_ == 0; });
}

void http_listener::watch() {
  while (!stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard<std::mutex> guard{mtx_};
    auto now = watched_conn::now_ms();
    for (auto* c : conns_) {
      if (c->deadline_ms.load() < now)
        ::shutdown(c->fd, SHUT_RDWR);
    }
  }
}

void http_listener::accept_loop() {
  while (!stopping_) {
    tcp::socket sock{io_};
    boost::system::error_code ec;
    acceptor_.accept(sock, ec);
    if (ec) {
      if (stopping_)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    std::unique_lock<std::mutex> guard{mtx_};
    if (active_ >= max_connections_) {
      guard.unlock();
      busy_(sock);
      continue;
    }
    ++active_;
    guard.unlock();
    auto owned = std::make_unique<tcp::socket>(std::move(sock));
    std::thread([this, s = std::move(owned)]() mutable { run(std::move(s)); }).detach();
  }
}

void http_listener::run(std::unique_ptr<tcp::socket> sock) {
  watched_conn me;
  me.fd = sock->native_handle();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    conns_.insert(&me);
  }
  boost::system::error_code ec;
  sock->set_option(tcp::no_delay(true), ec);
  serve_(*sock, me);
  sock->shutdown(tcp::socket::shutdown_both, ec);
  std::lock_guard<std::mutex> guard{mtx_};
  conns_.erase(&me);
  sock.reset(); // before the count drops: stop() may destroy the io_context next
  --active_;
  cv_.notify_all();
}

} // namespace ferry
