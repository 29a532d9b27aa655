#include "deployers/local/router.hpp"

#include "actors/http_framing.hpp"
#include "actors/http_listener.hpp"

#include "deployers/local/process.hpp"
#include "messages/errors.hpp"
#include "messages/json_text.hpp"
#include "deployers/local/http_text.hpp"
#include "deployers/local/router_http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

namespace ferry::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;
using tcp = asio::ip::tcp;
// Coroutines and sockets bound to a worker's io_context executor itself
// (not the type-erased any_io_executor: less work per operation).
using executor = asio::io_context::executor_type;
template <class T>
using awaitable = asio::awaitable<T, executor>;
constexpr asio::use_awaitable_t<executor> use_awaitable;
using tcp_socket = tcp::socket::rebind_executor<executor>::other;
using unix_socket = asio::local::stream_protocol::socket::rebind_executor<executor>::other;
using timer = asio::steady_timer::rebind_executor<executor>::other;

namespace {

/// The last routing decision of a connection, good while the runtime's
/// generation does not change.
struct route_cache {
  std::string host;
  uint64_t generation = 0;
  std::shared_ptr<const deployment> dep;
  std::string path;                    ///< the last path of dep asked for
  const function_config* fn = nullptr; ///< what it routes to (of dep)
  const static_file* file = nullptr;   ///< or the static file it names
  std::shared_ptr<function_pool> pool; ///< fn's
  std::string env;                     ///< whose variables its functions get at this host
};

/// One client connection. It lives in its coroutine's frame; its worker's
/// watchdog (same thread) reads the deadlines.
struct session {
  explicit session(tcp_socket s) : sock(std::move(s)) {}

  tcp_socket sock;
  std::string peer;
  std::string head;                       ///< the message head being written (its capacity kept)
  const static_file* file = nullptr;      ///< to stream after the head
  std::shared_ptr<const void> file_owner; ///< keeps file's deployment
  route_cache cache;
  std::string request_id;          ///< of the request being served
  int64_t deadline_ms = INT64_MAX; ///< shut the connection down after this

  // the kept-open connection to one instance
  std::unique_ptr<unix_socket> up;
  beast::flat_buffer up_buf;
  uint64_t up_serial = 0;
  const void* up_key = nullptr;
  bool up_waiting = false;            ///< a request is out to it
  int64_t up_deadline_ms = INT64_MAX; ///< its maxDuration ends
  bool up_cut = false;                ///< the watchdog shut it down
  body_budget::hold answer;           ///< of the router's bodies: the instance's answer held

  void close_upstream() {
    if (!up)
      return;
    boost::system::error_code ec;
    up->close(ec);
    up.reset();
    up_buf.clear();
  }
};

/// A thread with its own io_context: the connections it was given, and the
/// watchdog of their deadlines.
struct worker {
  std::set<session*> sessions; ///< before io: its handlers' frames leave them
  asio::io_context io{1};
  std::thread thread;
};

} // namespace

struct router::impl {
  core& rt;
  router_options opts;
  std::vector<std::unique_ptr<worker>> workers;
  tcp::acceptor::rebind_executor<executor>::other acceptor;
  std::atomic<bool> stopping{false};
  std::mutex mtx;
  std::condition_variable cv;
  size_t active = 0; ///< connections open
  client_counter clients;
  body_budget bodies{256 << 20, 64 << 20}; ///< request bodies in flight: in all, a client
  size_t offloads = 0;                     ///< blocking calls running on their own threads

  impl(core& c, router_options o)
      : rt(c), opts(std::move(o)), acceptor(make_workers()), clients(opts.max_per_client) {}

  asio::io_context& make_workers() {
    // by default half the cores: the other half runs the functions it proxies to
    auto n =
        opts.threads ? opts.threads : std::clamp(std::thread::hardware_concurrency() / 2, 1U, 8U);
    for (unsigned i = 0; i < n; ++i)
      workers.push_back(std::make_unique<worker>());
    return workers[0]->io;
  }

  caf::expected<uint16_t> start() {
    auto bound = listen_on(acceptor, opts.host, opts.port);
    if (!bound)
      return bound;
    asio::co_spawn(workers[0]->io, accept_loop(), asio::detached);
    for (auto& w : workers) {
      asio::co_spawn(w->io, watch(*w), asio::detached);
      w->thread = std::thread([io = &w->io] { io->run(); });
    }
    return bound;
  }

  void stop() {
    if (stopping.exchange(true))
      return;
    asio::post(workers[0]->io, [this] {
      boost::system::error_code ec;
      acceptor.close(ec);
    });
    for (auto& w : workers)
      asio::post(w->io, [w = w.get()] {
        boost::system::error_code ec;
        for (auto* s : w->sessions) {
          s->sock.shutdown(tcp::socket::shutdown_both, ec);
          if (s->up)
            s->up->shutdown(unix_socket::shutdown_both, ec);
        }
      });
    {
      std::unique_lock<std::mutex> guard{mtx};
      cv.wait_for(guard, std::chrono::seconds(5), [this] { return active == 0; });
    }
    for (auto& w : workers) {
      w->io.stop();
      if (w->thread.joinable())
        w->thread.join();
    }
    rt.drop_waiters(); // wakers post to these io_contexts, soon gone
    // a blocking call posts its result to its worker's io_context: wait for them
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [this] { return offloads == 0; });
  }

  // g++ 12 may destroy a temporary with a destructor twice when the full
  // expression holding it suspends (co_await): in these coroutines such
  // values are named first, and coroutines take them by reference.

  /// Runs f (which may block: loading a deployment, starting an instance)
  /// on a thread of its own; the coroutine resumes on its worker with f's
  /// result.
  template <class F>
  awaitable<std::invoke_result_t<F>> offload(const F& fn) {
    using result = std::invoke_result_t<F>;
    auto ex = co_await asio::this_coro::executor;
    auto initiate = [this, ex, f = fn](auto handler) mutable {
      {
        std::lock_guard<std::mutex> guard{mtx};
        ++offloads;
      }
      auto done = [this, ex](auto h, result r) {
        asio::post(ex, [h = std::move(h), r = std::move(r)]() mutable { h(std::move(r)); });
        std::lock_guard<std::mutex> guard{mtx};
        --offloads;
        cv.notify_all();
      };
      auto shared = std::make_shared<decltype(handler)>(std::move(handler));
      try {
        std::thread([f = std::move(f), shared, done]() mutable {
          auto r = [&]() -> result {
            try {
              return f();
            } catch (const std::exception& e) { // a bad deployment, say: its request fails
              return result{make_error(ec::unavailable, e.what())};
            }
          }();
          done(std::move(*shared), std::move(r));
        }).detach();
      } catch (const std::system_error&) { // out of threads: the request fails, not the router
        done(std::move(*shared), result{make_error(ec::unavailable, "the router is overloaded")});
      }
    };
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<executor>&, void(result)>(
        initiate, use_awaitable);
  }

  awaitable<void> accept_loop() {
    size_t next = 0;
    timer pause{workers[0]->io};
    while (!stopping) {
      auto& w = *workers[next++ % workers.size()];
      tcp_socket sock{w.io};
      boost::system::error_code ec;
      co_await acceptor.async_accept(sock, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (stopping)
          break;
        if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
          static const std::string busy =
              busy_response("TOO_MANY_CONNECTIONS", "the router is out of descriptors");
          shed_connection(acceptor.native_handle(), busy);
        }
        pause.expires_after(std::chrono::milliseconds(10));
        co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      if (stopping)
        break;
      boost::system::error_code peer_ec;
      auto client = sock.remote_endpoint(peer_ec).address().to_string(peer_ec);
      bool over;
      {
        std::lock_guard<std::mutex> guard{mtx};
        over = active >= opts.max_connections || !clients.add(client);
        if (!over)
          ++active;
      }
      if (over)
        asio::co_spawn(w.io, turn_away(std::move(sock)), asio::detached);
      else
        asio::co_spawn(w.io, serve(w, std::move(sock), std::move(client)), asio::detached);
    }
  }

  awaitable<void> turn_away(tcp_socket sock) {
    auto res = error_page(503, "TOO_MANY_CONNECTIONS", "the router is at its limit");
    res.keep_alive(false);
    res.prepare_payload();
    boost::system::error_code ec;
    co_await http::async_write(sock, res, asio::redirect_error(use_awaitable, ec));
    sock.shutdown(tcp::socket::shutdown_both, ec);
  }

  /// Every 50 ms: shuts down connections idle past their deadline and
  /// upstreams whose function ran past its maxDuration.
  awaitable<void> watch(worker& w) {
    timer tick{w.io};
    boost::system::error_code ec;
    while (!stopping) {
      tick.expires_after(std::chrono::milliseconds(50));
      co_await tick.async_wait(asio::redirect_error(use_awaitable, ec));
      auto now = steady_ms();
      for (auto* s : w.sessions) {
        if (s->deadline_ms < now) {
          s->deadline_ms = INT64_MAX;
          s->sock.shutdown(tcp::socket::shutdown_both, ec);
        }
        if (s->up_waiting && s->up_deadline_ms < now && !s->up_cut) {
          s->up_cut = true;
          s->up->shutdown(unix_socket::shutdown_both, ec);
        }
      }
    }
  }

  awaitable<void> serve(worker& w, tcp_socket sock, std::string client) {
    session s{std::move(sock)};
    w.sessions.insert(&s);
    try {
      co_await serve(s);
    } catch (const std::exception&) {
      // a connection ends; the router goes on
    }
    boost::system::error_code ec;
    s.close_upstream();
    s.sock.shutdown(tcp::socket::shutdown_both, ec);
    s.sock.close(ec);
    w.sessions.erase(&s);
    clients.remove(client);
    std::lock_guard<std::mutex> guard{mtx};
    --active;
    cv.notify_all();
  }

  static constexpr size_t max_target = 8192;

  // A request costs one coroutine frame (the proxy's, for a function): the
  // steps below are plain functions between co_awaits of asio operations.

  awaitable<void> serve(session& s) {
    boost::system::error_code ec;
    s.sock.set_option(tcp::no_delay(true), ec);
    s.peer = s.sock.remote_endpoint(ec).address().to_string(ec);
    const int64_t idle_ms = int64_t{opts.idle_timeout_s} * 1000;
    const int64_t head_ms = std::min(int64_t{opts.header_timeout_s} * 1000, idle_ms);
    beast::flat_buffer buf;
    while (true) {
      // idle until a request begins; then its head comes whole, and soon
      s.deadline_ms = steady_ms() + idle_ms;
      if (buf.size() == 0) {
        co_await s.sock.async_wait(tcp::socket::wait_read, asio::redirect_error(use_awaitable, ec));
        if (ec)
          break;
      }
      s.deadline_ms = steady_ms() + head_ms;
      http::request_parser<http::string_body> parser;
      parser.header_limit(32 * 1024);
      parser.body_limit(opts.max_body);
      // the header first: http::read alone lets a body over the limit that
      // arrives with its header slip through
      co_await http::async_read_header(s.sock, buf, parser,
                                       asio::redirect_error(use_awaitable, ec));
      if (!ec) {
        if (auto why = check_framing(parser.get().base(), parser.get().version()); !why.empty()) {
          auto res = error_page(400, "BAD_REQUEST", "malformed HTTP request: " + why);
          co_await asio::async_write(s.sock, head_and_body(s, res, false, true),
                                     asio::redirect_error(use_awaitable, ec));
          break;
        }
      }
      if (ec) {
        if (auto res = read_error(ec))
          co_await asio::async_write(s.sock, head_and_body(s, *res, false, true),
                                     asio::redirect_error(use_awaitable, ec));
        break;
      }
      // Routed from its head: a body is read only for a function, within
      // the budget (nobody's memory is spent on a request nobody serves).
      s.deadline_ms = INT64_MAX;
      s.request_id = new_request_id();
      auto& head_req = parser.get();
      bool has_body = !parser.is_done();
      bool keep = head_req.keep_alive();
      bool head = head_req.method() == http::verb::head;
      auto started = clock::now();
      std::string deployment;
      auto host = host_of(head_req);
      std::optional<response> res;
      std::optional<request> req;
      if (host.empty()) {
        res = error_page(400, "BAD_REQUEST", "the request names no Host");
      } else if (head_req.target().size() > max_target) { // (route patterns run on the path)
        res = error_page(414, "URI_TOO_LONG", "the request's path is over 8 KiB");
      } else {
        if (!rt.aliases_known()) { // just started: wait (5 s at most) for the alias table
          timer pause{s.sock.get_executor()};
          boost::system::error_code paused;
          for (int k = 0; k < 250 && !rt.aliases_known(); ++k) {
            pause.expires_after(std::chrono::milliseconds(20));
            co_await pause.async_wait(asio::redirect_error(use_awaitable, paused));
          }
        }
        auto gen = rt.generation();
        auto found = lookup(s, host, gen);
        if (!found) { // to be loaded, or asked of the registry: may take a while
          auto load = [this, host] { return rt.route_host(host); };
          found = co_await offload(load);
          remember(s, host, gen, *found);
        }
        res = answer(s, head_req, *found, host, deployment);
        if (!res) { // a function's: its body now
          body_budget::hold hold;
          if (has_body) {
            // charged as its bytes arrive: a length announced holds nothing
            auto len = parser.content_length();
            hold = bodies.take(s.peer, 0);
            if (beast::iequals(head_req[http::field::expect], "100-continue")) {
              static const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
              co_await asio::async_write(s.sock, asio::buffer(go_on),
                                         asio::redirect_error(use_awaitable, ec));
            }
            s.deadline_ms =
                steady_ms() + idle_ms + static_cast<int64_t>(len.value_or(opts.max_body) / 1000);
            bool over = false;
            while (!ec && !parser.is_done()) {
              co_await http::async_read_some(s.sock, buf, parser,
                                             asio::redirect_error(use_awaitable, ec));
              over = !ec && !hold.grow(parser.get().body().size() + buf.size());
              if (over)
                break;
            }
            s.deadline_ms = INT64_MAX;
            if (over) {
              res = server_error(503, "TOO_MANY_REQUESTS",
                                 "too many request bodies in flight; send again", s.request_id);
            } else {
              if (ec) {
                if (auto bad = read_error(ec))
                  co_await asio::async_write(s.sock, head_and_body(s, *bad, false, true),
                                             asio::redirect_error(use_awaitable, ec));
                break;
              }
              // fields in a chunked body's trailer join the head: framed again
              if (auto why = check_framing(parser.get().base(), parser.get().version());
                  !why.empty())
                res = error_page(400, "BAD_REQUEST", "malformed HTTP request: " + why);
            }
          }
          if (!res) {
            req = parser.release();
            auto dep = s.cache.dep; // the cache may change while this request waits
            auto pool = s.cache.pool;
            res = co_await proxy(s, *req, *dep, *s.cache.fn, pool, host);
            scope_cookies(*res, host);
          }
        }
      }
      if (has_body && !parser.is_done())
        keep = false; // answered without reading its body: the connection ends
      const request& logged = req ? *req : parser.get();
      if (!deployment.empty())
        log_request(deployment, s.request_id, logged, *res, clock::now() - started);
      s.deadline_ms = steady_ms() + idle_ms; // a client that stops reading
      co_await asio::async_write(s.sock, head_and_body(s, *res, keep, !head),
                                 asio::redirect_error(use_awaitable, ec));
      if (!ec && s.file && !head)
        ec = co_await send_file(s, idle_ms);
      s.answer = {};
      s.file = nullptr;
      s.file_owner.reset();
      if (ec || !keep)
        break;
    }
  }

  /// Streams s.file's bytes (its head is sent) a piece at a time. An error
  /// ends the connection: its length was promised.
  awaitable<boost::system::error_code> send_file(session& s, int64_t idle_ms) {
    boost::system::error_code ec;
    auto& f = *s.file;
    int fd = ::open(f.disk_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      co_return asio::error::not_found;
    std::vector<char> piece(file_piece);
    uint64_t sent = 0;
    while (sent < f.size) {
      auto n = ::pread(fd, piece.data(), std::min<uint64_t>(file_piece, f.size - sent),
                       static_cast<off_t>(sent));
      if (n <= 0) { // shorter than it was: the client must not wait for the rest
        ec = asio::error::eof;
        break;
      }
      s.deadline_ms = steady_ms() + idle_ms;
      co_await asio::async_write(s.sock, asio::buffer(piece.data(), static_cast<size_t>(n)),
                                 asio::redirect_error(use_awaitable, ec));
      if (ec)
        break;
      sent += static_cast<uint64_t>(n);
    }
    ::close(fd);
    co_return ec;
  }

  /// The buffers of a response to the client (its head in s.head).
  static std::array<asio::const_buffer, 2> head_and_body(session& s, response& res, bool keep,
                                                         bool with_body) {
    res.set(http::field::server, "ferry");
    if (!s.request_id.empty())
      res.set("x-ferry-id", s.request_id);
    res.keep_alive(keep);
    if (with_body && has_body(res.result_int()) && !res.has_content_length())
      res.prepare_payload(); // (HEAD: a function may not say)
    return message_buffers(s.head, res, with_body);
  }

  /// A message with a string body (its Content-Length set) as buffers: its
  /// head written into head, and its body.
  template <class Message>
  static std::array<asio::const_buffer, 2> message_buffers(std::string& head, const Message& m,
                                                           bool with_body) {
    head.clear();
    append_head(head, m);
    return {asio::buffer(head), asio::buffer(m.body().data(), with_body ? m.body().size() : 0)};
  }

  void log_request(const std::string& deployment, const std::string& request_id, const request& req,
                   const response& res, clock::duration took) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    std::string line =
        "{\"t\":" + std::to_string(wall_ms()) + ",\"source\":\"router\",\"method\":\"";
    json_escape(line, std::string_view(req.method_string().data(), req.method_string().size()));
    line += "\",\"path\":\"";
    json_escape(line,
                std::string_view(req.target().data(), std::min<size_t>(req.target().size(), 2048)));
    line += "\",\"id\":\"" + request_id + "\",\"status\":" + std::to_string(res.result_int()) +
            ",\"ms\":" + std::to_string(us / 1000) + "." + std::to_string(us / 100 % 10) +
            std::to_string(us / 10 % 10) + "}";
    rt.logs().append(deployment, line);
  }

  using found_deployment = caf::expected<routed>;

  /// The deployment at host, from the connection's last decision or the
  /// deployments the runtime has loaded; nullopt if it has to load it first.
  std::optional<found_deployment> lookup(session& s, const std::string& host, uint64_t gen) {
    if (s.cache.dep && s.cache.host == host && s.cache.generation == gen)
      return found_deployment{routed{s.cache.dep, s.cache.env}};
    auto found = rt.route_host_loaded(host);
    if (found)
      remember(s, host, gen, *found);
    return found;
  }

  static void remember(session& s, const std::string& host, uint64_t gen,
                       const found_deployment& dep) {
    if (dep)
      s.cache = route_cache{host, gen, dep->dep, {}, nullptr, nullptr, nullptr, dep->env};
    else
      s.cache = route_cache{};
  }

  /// The answer to a request that no function gives (a static file, an
  /// error), or nullopt: it goes to s.cache.fn through s.cache.pool.
  std::optional<response> answer(session& s, const request& req, const found_deployment& dep,
                                 const std::string& host, std::string& deployment) {
    if (!dep) {
      if (code_of(dep.error()) == ec::not_found)
        return error_page(404, rt.aliases_known() ? "DEPLOYMENT_NOT_FOUND" : "ROUTES_LOADING",
                          "no deployment is served at " + host);
      std::cerr << "ferryd: router: request " << s.request_id << " to " << host.substr(0, 253)
                << ": " << reason_of(dep.error()) << "\n";
      return server_error(503, "DEPLOYMENT_UNAVAILABLE", "the deployment cannot be loaded now",
                          s.request_id);
    }
    auto& d = *dep->dep;
    auto& cache = s.cache;
    deployment = d.id;
    std::string_view target(req.target().data(), req.target().size());
    if (std::any_of(target.begin(), target.end(),
                    [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
      return error_page(400, "BAD_REQUEST",
                        "a request target is ASCII: percent-encode other bytes");
    auto raw_path = target.substr(0, target.find('?'));
    std::string path;
    if (!percent_decode(raw_path, path) || path.empty() || path[0] != '/')
      return error_page(400, "BAD_REQUEST", "malformed path");
    if (cache.path != path) {
      cache.path = path;
      cache.file = d.find_static(path);
      auto* fn = d.find_function(path);
      if (fn != cache.fn)
        cache.pool.reset();
      cache.fn = fn;
    }
    bool readonly = req.method() == http::verb::get || req.method() == http::verb::head;
    if (readonly && cache.file)
      return serve_static(s, req, *cache.file);
    if (cache.fn) {
      if (!cache.pool)
        cache.pool = rt.pool_of(d, *cache.fn, cache.env);
      if (!cache.pool)
        return error_page(404, "DEPLOYMENT_NOT_FOUND", "the deployment was removed");
      return std::nullopt;
    }
    if (!readonly && cache.file)
      return error_page(405, "METHOD_NOT_ALLOWED", "static files answer GET and HEAD");
    return error_page(404, "NOT_FOUND", "no file or function at " + path);
  }

  /// Files up to this size are read whole; larger ones are streamed in
  /// pieces of this size (memory per download stays small).
  static constexpr size_t file_piece = 256 << 10;

  response serve_static(session& s, const request& req, const static_file& f) {
    response res{http::status::ok, 11};
    res.set(http::field::etag, f.etag);
    res.set(http::field::cache_control, "public, max-age=0, must-revalidate");
    res.set(http::field::content_type, f.content_type);
    std::string_view inm(req[http::field::if_none_match].data(),
                         req[http::field::if_none_match].size());
    if (!inm.empty() &&
        (inm == f.etag || inm == "*" || inm.find(f.etag) != std::string_view::npos)) {
      res.result(http::status::not_modified); // no body, and no length to claim
      return res;
    }
    if (f.size > file_piece) { // streamed after the head (serve)
      s.file = &f;
      s.file_owner = s.cache.dep;
      res.content_length(f.size);
      return res;
    }
    std::ifstream in(f.disk_path, std::ios::binary);
    if (!in)
      return server_error(500, "FILE_UNREADABLE", "a static file of this deployment is unreadable",
                          s.request_id);
    std::string body(f.size, '\0');
    in.read(body.data(), static_cast<std::streamsize>(body.size()));
    body.resize(static_cast<size_t>(in.gcount()));
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  /// An acquired instance, given back exactly once: by release(), or when
  /// it goes out of scope (an exception on the router's side: not the
  /// instance's fault).
  struct lease {
    core& rt;
    std::shared_ptr<instance> inst;
    lease(core& r, std::shared_ptr<instance> i) : rt(r), inst(std::move(i)) {}
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() { release(outcome::ok); }
    void release(outcome how) {
      if (inst)
        rt.release(inst, how);
      inst.reset();
    }
  };

  awaitable<response> proxy(session& s, request& req, const deployment& d,
                            const function_config& fn, const std::shared_ptr<function_pool>& pool,
                            const std::string& host) {
    auto got = rt.try_acquire(*pool);
    if (!got) { // start one (on a thread of its own), or wait for room without a thread
      auto until = std::min(clock::now() + std::chrono::seconds(fn.max_duration_s),
                            clock::now() + std::chrono::seconds(30));
      auto room = std::make_shared<timer>(s.sock.get_executor());
      std::weak_ptr<timer> weak = room;
      auto ex = s.sock.get_executor();
      auto wake = [ex, weak] {
        asio::post(ex, [weak] {
          if (auto t = weak.lock())
            t->cancel();
        });
      };
      while (!got) {
        auto a = rt.try_acquire(*pool, wake);
        if (a.got) {
          got = std::move(a.got);
        } else if (a.start) {
          auto start = [this, pool, until, rid = s.request_id] {
            return rt.start_reserved(*pool, until, rid);
          };
          auto started = co_await offload(start);
          if (!started) // (why: in the owner's runtime log, under the request's id)
            co_return server_error(503, "FUNCTION_UNAVAILABLE", "the function could not start",
                                   s.request_id);
          got = std::move(*started);
        } else {
          room->expires_at(until);
          boost::system::error_code woken;
          co_await room->async_wait(asio::redirect_error(use_awaitable, woken));
          rt.cancel_wait(*pool, a.ticket);
          if (!woken && !(got = rt.try_acquire(*pool))) // the deadline passed
            co_return server_error(503, "FUNCTION_UNAVAILABLE",
                                   "the function is at its limit of instances; try again later",
                                   s.request_id);
        }
      }
    }
    lease held{rt, std::move(got)};
    auto& i = *held.inst;
    if (auto bad = prepare_upstream_request(req, s.peer, s.request_id, d, host))
      co_return std::move(*bad);
    bool head = req.method() == http::verb::head;
    std::optional<http::response_parser<http::string_body>> parser;
    boost::system::error_code ec;
    bool reached = false; // connected and sent the request
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = s.up && s.up_serial == i.serial && s.up_key == i.proc.get();
      if (!reused) {
        s.close_upstream();
        s.up = std::make_unique<unix_socket>(s.sock.get_executor());
        asio::local::stream_protocol::endpoint ep{i.proc->socket_path()};
        co_await s.up->async_connect(ep, asio::redirect_error(use_awaitable, ec));
        if (ec) {
          s.close_upstream();
          break;
        }
        s.up_serial = i.serial;
        s.up_key = i.proc.get();
      }
      s.up_waiting = true;
      s.up_cut = false;
      s.up_deadline_ms = steady_ms() + int64_t{fn.max_duration_s} * 1000 + 50;
      co_await asio::async_write(*s.up, message_buffers(s.head, req, true),
                                 asio::redirect_error(use_awaitable, ec));
      reached = !ec;
      // read heads until the final one: an interim answer (1xx, such as 103
      // Early Hints) is not passed on
      bool interim = true;
      while (!ec && interim) {
        parser.emplace();
        parser->body_limit(opts.max_response);
        parser->header_limit(64 * 1024);
        parser->skip(head); // the answer to HEAD has no body, whatever its length says
        co_await http::async_read_header(*s.up, s.up_buf, *parser,
                                         asio::redirect_error(use_awaitable, ec));
        interim = !ec && parser->get().result_int() / 100 == 1;
      }
      // its body, charged as it arrives, and held until the client has it:
      // clients that do not read cannot make ferryd hold answers without end
      s.answer = bodies.take(s.peer, 0);
      while (!ec && !parser->is_done()) {
        co_await http::async_read_some(*s.up, s.up_buf, *parser,
                                       asio::redirect_error(use_awaitable, ec));
        if (!ec && !s.answer.grow(parser->get().body().size() + s.up_buf.size()))
          ec = asio::error::no_buffer_space;
      }
      s.up_waiting = false;
      // a kept-open connection that fails before any answer is tried once more
      if (ec && reused && !s.up_cut && !parser->got_some() && !i.proc->exited()) {
        s.close_upstream();
        continue;
      }
      break;
    }
    if (!ec) {
      held.release(outcome::ok);
      if (parser->need_eof()) // the function ended its answer by closing
        s.close_upstream();
      auto res = parser->release();
      strip_hop_by_hop(res.base());
      if (!head && has_body(res.result_int()))
        res.prepare_payload(); // (for HEAD, the length of what GET would answer stays)
      co_return res;
    }
    s.answer = {}; // (an error page is small: nothing of the answer is held)
    bool timed_out = s.up_cut;
    s.close_upstream();
    if (timed_out) {
      held.release(outcome::timed_out);
      rt.logs().append(
          d.id, json_text(json{{"t", wall_ms()},
                               {"level", "error"},
                               {"source", "router"},
                               {"request_id", s.request_id},
                               {"function", fn.name},
                               {"error", "timed out after " + std::to_string(fn.max_duration_s) +
                                             " s (maxDuration); instance stopped"}}));
      co_return server_error(
          504, "FUNCTION_INVOCATION_TIMEOUT",
          "the function ran past its maxDuration of " + std::to_string(fn.max_duration_s) + " s",
          s.request_id);
    }
    if (ec == asio::error::no_buffer_space) {
      held.release(outcome::ok);
      co_return server_error(503, "TOO_MANY_REQUESTS",
                             "too many answers in flight to this client; read them, or send again",
                             s.request_id);
    }
    if (ec == http::error::body_limit) {
      held.release(outcome::ok);
      co_return server_error(502, "FUNCTION_RESPONSE_TOO_LARGE",
                             "the function's response is too large", s.request_id);
    }
    // did the instance die (out of memory, exit, crash)? give it a moment to be reaped
    timer pause{s.sock.get_executor()};
    for (int k = 0; k < 20 && reached && !i.proc->exited(); ++k) {
      pause.expires_after(std::chrono::milliseconds(10));
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    if (!i.proc->exited()) { // alive: the connection failed (out of descriptors, say)
      held.release(outcome::ok);
      co_return server_error(502, "FUNCTION_UNREACHABLE",
                             "the function's instance could not be reached; try again",
                             s.request_id);
    }
    held.release(outcome::crashed);
    auto why = i.proc->describe_exit();
    rt.logs().append(d.id, json_text(json{{"t", wall_ms()},
                                          {"level", "error"},
                                          {"source", "router"},
                                          {"request_id", s.request_id},
                                          {"function", fn.name},
                                          {"error", "the instance failed mid-request: " + why}}));
    co_return server_error(500, "FUNCTION_INVOCATION_FAILED", "the function failed", s.request_id);
  }
};

router::router(core& c, router_options opts) : impl_(std::make_unique<impl>(c, std::move(opts))) {}

router::~router() {
  stop();
}

caf::expected<uint16_t> router::start() {
  return impl_->start();
}

void router::stop() {
  impl_->stop();
}

} // namespace ferry::runtime
