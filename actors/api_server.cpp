#include "actors/api_server.hpp"

#include "actors/http_routes.hpp"
#include "messages/errors.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <caf/scoped_actor.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <sys/socket.h>

namespace ferry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct api_server::impl {
  caf::actor_system& sys;
  api_options opts;
  role_cache roles;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread accept_thread;
  std::mutex mtx;
  std::condition_variable cv;
  /// An open connection and when it is due to be cut if it makes no progress.
  struct conn {
    int fd;
    std::atomic<int64_t> deadline_ms;
  };
  std::set<conn*> conns;
  size_t active = 0;
  std::atomic<bool> stopping{false};
  std::thread watchdog;

  static int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  }

  /// Blocking socket reads ignore SO_RCVTIMEO under asio (it polls again), so
  /// a watchdog shuts down connections that are idle or stalled past their
  /// deadline; their blocked reads then fail.
  void watch() {
    while (!stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::lock_guard<std::mutex> guard{mtx};
      auto now = now_ms();
      for (auto* c : conns)
        if (c->deadline_ms.load() < now)
          ::shutdown(c->fd, SHUT_RDWR);
    }
  }

  impl(caf::actor_system& s, directory_actor dir, api_options o)
      : sys(s), opts(std::move(o)), roles(std::move(dir)) {}

  void accept_loop() {
    while (!stopping) {
      tcp::socket sock{io};
      boost::system::error_code ec;
      acceptor.accept(sock, ec);
      if (ec) {
        if (stopping)
          return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      std::unique_lock<std::mutex> guard{mtx};
      if (active >= opts.max_connections) {
        guard.unlock();
        reject_busy(sock);
        continue;
      }
      ++active;
      guard.unlock();
      auto owned = std::make_unique<tcp::socket>(std::move(sock));
      std::thread([this, s = std::move(owned)]() mutable { serve(std::move(s)); }).detach();
    }
  }

  static void reject_busy(tcp::socket& sock) {
    http::response<http::string_body> res{http::status::service_unavailable, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = error_response(503, "unavailable", "too many connections").body;
    res.keep_alive(false);
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(sock, res, ec);
  }

  void serve(std::unique_ptr<tcp::socket> owned) {
    auto& sock = *owned;
    const int64_t idle_ms = int64_t{opts.idle_timeout_s} * 1000;
    conn me{sock.native_handle(), now_ms() + idle_ms};
    {
      std::lock_guard<std::mutex> guard{mtx};
      conns.insert(&me);
    }
    boost::system::error_code nodelay_ec;
    sock.set_option(tcp::no_delay(true), nodelay_ec);
    {
      caf::scoped_actor self{sys};
      beast::flat_buffer buf;
      while (!stopping) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(api_limits::max_body);
        boost::system::error_code ec;
        me.deadline_ms = now_ms() + idle_ms;
        http::read_header(sock, buf, parser, ec);
        if (ec == http::error::body_limit) {
          send(sock, error_response(413, "too_large", "request body over 64 MiB"), false);
          break;
        }
        if (ec) {
          if (!quiet_close(ec))
            send(sock, error_response(400, "bad_request", "malformed HTTP request"), false);
          break;
        }
        auto len = parser.content_length();
        // The body may take its time at 1 MB/s, but not stall.
        me.deadline_ms = now_ms() + idle_ms + static_cast<int64_t>(len.value_or(0) / 1000);
        if (len && *len > api_limits::max_body) {
          send(sock, error_response(413, "too_large", "request body over 64 MiB"), false);
          break;
        }
        if (len && *len >= direct_read_min && !parser.chunked()) {
          // Large bodies go straight from the socket into their final string:
          // one copy instead of two, in big reads.
          auto& msg = parser.get();
          http_request req;
          fill_request(msg, req);
          req.body.resize(static_cast<size_t>(*len));
          size_t have = std::min<size_t>(buf.size(), req.body.size());
          std::memcpy(req.body.data(), buf.data().data(), have);
          buf.consume(have);
          asio::read(sock, asio::buffer(req.body.data() + have, req.body.size() - have), ec);
          if (ec)
            break;
          bool keep = msg.keep_alive();
          me.deadline_ms = INT64_MAX;
          auto res = handle_request(self, roles, req);
          me.deadline_ms = now_ms() + idle_ms;
          if (!send(sock, res, keep) || !keep)
            break;
          continue;
        }
        http::read(sock, buf, parser, ec);
        if (ec == http::error::body_limit) {
          send(sock, error_response(413, "too_large", "request body over 64 MiB"), false);
          break;
        }
        if (ec) {
          if (!quiet_close(ec))
            send(sock, error_response(400, "bad_request", "malformed HTTP request"), false);
          break;
        }
        auto& msg = parser.get();
        http_request req;
        fill_request(msg, req);
        req.body = std::move(msg.body());
        bool keep = msg.keep_alive();
        me.deadline_ms = INT64_MAX; // handling and answering are ours to finish
        auto res = handle_request(self, roles, req);
        me.deadline_ms = now_ms() + idle_ms;
        if (!send(sock, res, keep) || !keep)
          break;
      }
    }
    boost::system::error_code ignored;
    sock.shutdown(tcp::socket::shutdown_both, ignored);
    std::lock_guard<std::mutex> guard{mtx};
    conns.erase(&me);
    owned.reset(); // before the count drops: stop() may destroy the io_context next
    --active;
    cv.notify_all();
  }

  static constexpr uint64_t direct_read_min = 64 << 10;

  /// Errors that mean the peer left or went idle: close without an answer.
  static bool quiet_close(const boost::system::error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == http::error::partial_message || ec == asio::error::connection_reset ||
           ec == asio::error::would_block || ec == asio::error::try_again ||
           ec == asio::error::broken_pipe || ec == asio::error::operation_aborted ||
           ec == asio::error::bad_descriptor;
  }

  template <class Message>
  static void fill_request(const Message& msg, http_request& req) {
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.authorization = std::string(msg[http::field::authorization]);
    req.content_type = std::string(msg[http::field::content_type]);
  }

  static bool send(tcp::socket& sock, const http_response& r, bool keep) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
    res.set(http::field::server, "ferryd");
    res.set(http::field::content_type, r.content_type);
    res.body() = r.body;
    res.keep_alive(keep);
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(sock, res, ec);
    return !ec;
  }
};

api_server::api_server(caf::actor_system& sys, directory_actor directory, api_options opts)
    : impl_(std::make_unique<impl>(sys, std::move(directory), std::move(opts))) {}

api_server::~api_server() {
  stop();
}

caf::expected<uint16_t> api_server::start() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(impl_->opts.host, ec);
  if (ec)
    return make_error(ec::bad_request, "bad listen address '" + impl_->opts.host + "'");
  tcp::endpoint ep{addr, impl_->opts.port};
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec)
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    impl_->acceptor.bind(ep, ec);
  if (!ec)
    impl_->acceptor.listen(512, ec);
  if (ec)
    return make_error(ec::unavailable, "listen on " + impl_->opts.host + ":" +
                                           std::to_string(impl_->opts.port) + ": " + ec.message());
  auto port = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
  impl_->watchdog = std::thread([this] { impl_->watch(); });
  return port;
}

void api_server::stop() {
  if (!impl_ || impl_->stopping.exchange(true))
    return;
  boost::system::error_code ec;
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->acceptor.close(ec);
  if (impl_->accept_thread.joinable())
    impl_->accept_thread.join();
  if (impl_->watchdog.joinable())
    impl_->watchdog.join();
  std::unique_lock<std::mutex> guard{impl_->mtx};
  for (auto* c : impl_->conns)
    ::shutdown(c->fd, SHUT_RDWR);
  impl_->cv.wait_for(guard, std::chrono::seconds(5), [this] { return impl_->active == 0; });
}

} // namespace ferry
