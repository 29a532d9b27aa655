#include "actors/api_server.hpp"

#include "actors/http_listener.hpp"
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
  http_listener listener;

  impl(caf::actor_system& s, directory_actor dir, api_options o)
      : sys(s),
        opts(std::move(o)),
        roles(std::move(dir)),
        listener(
            opts.max_connections, [this](tcp::socket& sock, watched_conn& c) { serve(sock, c); },
            [](tcp::socket& sock) { reject_busy(sock); }) {}

  static int64_t now_ms() { return watched_conn::now_ms(); }

  static void reject_busy(tcp::socket& sock) {
    http::response<http::string_body> res{http::status::service_unavailable, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = error_response(503, "unavailable", "too many connections").body;
    res.keep_alive(false);
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(sock, res, ec);
  }

  void serve(tcp::socket& sock, watched_conn& me) {
    const int64_t idle_ms = int64_t{opts.idle_timeout_s} * 1000;
    me.idle_for(idle_ms);
    {
      caf::scoped_actor self{sys};
      beast::flat_buffer buf;
      while (true) {
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
  return impl_->listener.start(impl_->opts.host, impl_->opts.port);
}

void api_server::stop() {
  if (impl_)
    impl_->listener.stop();
}

} // namespace ferry
