#include "actors/api_server.hpp"

#include "actors/http_listener.hpp"
#include "actors/http_framing.hpp"
#include "actors/http_routes.hpp"
#include "messages/errors.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <caf/scoped_actor.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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
            opts.max_connections, opts.max_per_client,
            [this](tcp::socket& sock, watched_conn& c) { serve(sock, c); },
            [](tcp::socket& sock) { reject_busy(sock); }) {}

  static int64_t now_ms() { return watched_conn::now_ms(); }

  static void reject_busy(tcp::socket& sock) {
    http::response<http::string_body> res{http::status::service_unavailable, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = error_response(503, "unavailable", "too many connections; try again").body;
    res.keep_alive(false);
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(sock, res, ec);
  }

  /// Request bodies being read: 256 MiB in all, 128 MiB a user.
  body_budget bodies{256 << 20, 128 << 20};

  void serve(tcp::socket& sock, watched_conn& me) {
    const int64_t idle_ms = int64_t{opts.idle_timeout_s} * 1000;
    const int64_t head_ms = std::min(int64_t{opts.header_timeout_s} * 1000, idle_ms);
    caf::scoped_actor self{sys};
    beast::flat_buffer buf;
    while (true) {
      boost::system::error_code ec;
      // idle until a request begins; then its head comes whole, and soon
      me.deadline_ms = now_ms() + idle_ms;
      if (buf.size() == 0 && (sock.wait(tcp::socket::wait_read, ec), ec))
        break;
      me.deadline_ms = now_ms() + head_ms;
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(std::numeric_limits<std::uint64_t>::max()); // the route's, once known
      http::read_header(sock, buf, parser, ec);
      if (ec) {
        if (ec == http::error::header_limit)
          send(sock, error_response(431, "bad_request", "request head over 16 KiB"), false);
        else if (!quiet_close(ec))
          send(sock, error_response(400, "bad_request", "malformed HTTP request"), false);
        break;
      }
      auto& msg = parser.get();
      if (auto why = check_framing(msg.base(), msg.version()); !why.empty()) {
        send(sock, error_response(400, "bad_request", "malformed HTTP request: " + why), false);
        break;
      }
      http_request req;
      fill_request(msg, req);
      auto len = parser.content_length();
      bool has_body = parser.chunked() || (len && *len > 0);
      bool keep = msg.keep_alive();
      // Answers before the body is read close the connection if it has one:
      // its bytes are still on the way.
      auto answer_early = [&](const http_response& res) {
        bool again = keep && !has_body;
        return send(sock, res, again) && again;
      };
      auto m = match_route(req.method, req.target);
      if (!m) {
        if (answer_early(error_response(
                404, "not_found",
                "no route " + req.method.substr(0, 16) + " " + req.target.substr(0, 200))))
          continue;
        break;
      }
      principal who;
      if (m->route->who != scope::anyone) {
        me.deadline_ms = INT64_MAX; // the registry answers within its own timeout
        auto p = authenticate(self, roles, req.authorization);
        if (!p) {
          auto code = code_of(p.error());
          if (answer_early(error_response(http_status(code), std::string{to_string(code)},
                                          reason_of(p.error()))))
            continue;
          break;
        }
        who = std::move(*p);
      }
      auto max = m->route->max_body;
      if (len && *len > max) {
        answer_early(error_response(
            413, "too_large",
            "request body over " + std::to_string(max >> 10) + " KiB for " + m->route->pattern));
        break;
      }
      // bodies are charged as their bytes arrive: a length announced holds nothing
      auto hold = bodies.take(who.user, 0);
      auto over = [&] {
        answer_early(
            error_response(503, "unavailable", "too many request bodies in flight; send again"));
      };
      // The body may take its time (1 MB/s at the least, in all).
      const int64_t body_end = now_ms() + idle_ms + static_cast<int64_t>(len.value_or(max) / 1000);
      me.deadline_ms = body_end;
      if (len && *len >= direct_read_min && !parser.chunked()) {
        // Large bodies go straight from the socket into their final string:
        // one copy instead of two, in big reads. Its memory grows with what
        // arrives (reserved, not touched, before): a client that announces
        // 64 MiB and sends little costs little.
        size_t want = static_cast<size_t>(*len);
        req.body.reserve(want);
        size_t have = std::min<size_t>(buf.size(), want);
        req.body.assign(static_cast<const char*>(buf.data().data()), have);
        buf.consume(have);
        while (!ec && req.body.size() < want) {
          // the body may take its time, but not stall: head_ms without a byte ends it
          me.deadline_ms = std::min(body_end, now_ms() + head_ms);
          auto at = req.body.size();
          if (!hold.grow(std::min(want, at + (size_t{1} << 20))))
            break;
          req.body.resize(std::min(want, at + (size_t{1} << 20)));
          auto n = sock.read_some(asio::buffer(req.body.data() + at, req.body.size() - at), ec);
          req.body.resize(at + n);
        }
        if (ec)
          break;
        if (req.body.size() < want) {
          over();
          break;
        }
      } else if (has_body) {
        parser.body_limit(max);
        bool too_many = false;
        while (!ec && !parser.is_done()) {
          http::read_some(sock, buf, parser, ec);
          too_many = !ec && !hold.grow(parser.get().body().size() + buf.size());
          if (too_many)
            break;
        }
        if (too_many) {
          over();
          break;
        }
        if (ec == http::error::body_limit) {
          send(sock, error_response(413, "too_large", "request body over its route's limit"),
               false);
          break;
        }
        if (ec) {
          if (!quiet_close(ec))
            send(sock, error_response(400, "bad_request", "malformed HTTP request"), false);
          break;
        }
        // fields in a chunked body's trailer join the head: framed again
        if (auto why = check_framing(parser.get().base(), parser.get().version()); !why.empty()) {
          send(sock, error_response(400, "bad_request", "malformed HTTP request: " + why), false);
          break;
        }
        req.body = std::move(parser.get().body());
      }
      me.deadline_ms = INT64_MAX; // handling and answering are ours to finish
      auto res = dispatch(self, roles, req, *m, who);
      me.deadline_ms = now_ms() + idle_ms;
      if (!send(sock, res, keep) || !keep)
        break;
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
    if (r.file)
      return send_file(sock, r, keep);
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

  /// An answer whose body is a file, a piece at a time.
  static bool send_file(tcp::socket& sock, const http_response& r, bool keep) {
    struct stat st {};
    if (::fstat(*r.file, &st) != 0)
      return false;
    http::response<http::empty_body> res{static_cast<http::status>(r.status), 11};
    res.set(http::field::server, "ferryd");
    res.set(http::field::content_type, r.content_type);
    res.content_length(static_cast<uint64_t>(st.st_size));
    res.keep_alive(keep);
    boost::system::error_code ec;
    http::response_serializer<http::empty_body> head{res};
    http::write_header(sock, head, ec);
    std::vector<char> piece(1 << 20);
    for (off_t at = 0; !ec && at < st.st_size;) {
      auto n = ::pread(*r.file, piece.data(), piece.size(), at);
      if (n <= 0)
        return false; // (its length was promised: the connection ends)
      asio::write(sock, asio::buffer(piece.data(), static_cast<size_t>(n)), ec);
      at += n;
    }
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
