#include "actors/http_listener.hpp"

#include "messages/errors.hpp"

#include <chrono>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ferry {

namespace asio = boost::asio;

int64_t watched_conn::now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

void shed_connection(int listen_fd, std::string_view response) {
  static std::mutex mtx;
  static int reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::lock_guard<std::mutex> guard{mtx};
  if (listen_fd < 0)
    return; // (the first call only sets the reserve aside)
  if (reserve >= 0)
    ::close(reserve);
  int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c >= 0) {
    (void)!::send(c, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(c, SHUT_RDWR);
    ::close(c);
  }
  reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

std::string busy_response(std::string_view code, std::string_view message) {
  std::string body = "{\"error\":{\"code\":\"" + std::string(code) + "\",\"message\":\"" +
                     std::string(message) + "\"}}\n";
  return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         "Connection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

body_budget::hold& body_budget::hold::operator=(hold&& o) noexcept {
  if (this != &o) {
    if (b_)
      b_->give(key_, n_);
    b_ = o.b_;
    key_ = std::move(o.key_);
    n_ = o.n_;
    o.b_ = nullptr;
  }
  return *this;
}

body_budget::hold::~hold() {
  if (b_)
    b_->give(key_, n_);
}

bool body_budget::hold::grow(uint64_t n) {
  if (!b_ || n <= n_)
    return b_ != nullptr;
  if (!b_->more(key_, n - n_))
    return false;
  n_ = n;
  return true;
}

bool body_budget::more(const std::string& key, uint64_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& mine = by_key_[key];
  if (total_ + n > total_max_ || mine + n > key_max_) {
    if (mine == 0)
      by_key_.erase(key);
    return false;
  }
  total_ += n;
  mine += n;
  return true;
}

body_budget::hold body_budget::take(const std::string& key, uint64_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& mine = by_key_[key];
  if (total_ + n > total_max_ || mine + n > key_max_) {
    if (mine == 0)
      by_key_.erase(key);
    return {};
  }
  total_ += n;
  mine += n;
  if (mine == 0)
    by_key_.erase(key);
  return hold{this, key, n};
}

void body_budget::give(const std::string& key, uint64_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  total_ -= n;
  auto it = by_key_.find(key);
  if (it != by_key_.end() && (it->second -= n) == 0)
    by_key_.erase(it);
}

bool client_counter::add(const std::string& address) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& n = open_[address];
  if (n >= max_) {
    if (n == 0)
      open_.erase(address);
    return false;
  }
  ++n;
  return true;
}

void client_counter::remove(const std::string& address) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto it = open_.find(address);
  if (it != open_.end() && --it->second == 0)
    open_.erase(it);
}

http_listener::http_listener(size_t max_connections, size_t max_per_client, serve_fn serve,
                             busy_fn busy)
    : max_connections_(max_connections),
      clients_(max_per_client),
      serve_(std::move(serve)),
      busy_(std::move(busy)) {}

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
      if (ec == boost::asio::error::no_descriptors || ec.value() == ENFILE)
        shed_connection(acceptor_.native_handle(),
                        busy_response("unavailable", "the server is out of descriptors"));
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    boost::system::error_code peer_ec;
    auto client = sock.remote_endpoint(peer_ec).address().to_string(peer_ec);
    std::unique_lock<std::mutex> guard{mtx_};
    if (active_ >= max_connections_ || !clients_.add(client)) {
      guard.unlock();
      busy_(sock);
      continue;
    }
    ++active_;
    guard.unlock();
    auto owned = std::make_unique<tcp::socket>(std::move(sock));
    try {
      std::thread([this, s = std::move(owned), client]() mutable {
        run(std::move(s), client);
      }).detach();
    } catch (const std::system_error&) { // out of threads: this one is turned away
      clients_.remove(client);
      std::lock_guard<std::mutex> again{mtx_};
      --active_;
    }
  }
}

void http_listener::run(std::unique_ptr<tcp::socket> sock, std::string client) {
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
  clients_.remove(client);
  std::lock_guard<std::mutex> guard{mtx_};
  conns_.erase(&me);
  sock.reset(); // before the count drops: stop() may destroy the io_context next
  --active_;
  cv_.notify_all();
}

} // namespace ferry
