#pragma once
// The router's insides, shared by its parts: router.cpp (connections, the
// request loop, static files) and router_proxy.cpp (a request to a
// function's instance). Not for use elsewhere.
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
#include <list>
#include <map>
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

namespace router_parts {

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

/// An instance held while its answer is relayed: given back when this goes,
/// however the session ends (an error, the router stopping).
struct stream_hold {
  core& rt;
  std::shared_ptr<instance> inst;
  outcome how = outcome::ok;
  stream_hold(core& r, std::shared_ptr<instance> i) : rt(r), inst(std::move(i)) {}
  stream_hold(const stream_hold&) = delete;
  stream_hold& operator=(const stream_hold&) = delete;
  ~stream_hold() {
    if (inst)
      rt.release(inst, how);
  }
};

struct worker;

/// One client connection (or a prerender function's answer made without
/// one). It lives in its coroutine's frame; its worker's watchdog (same
/// thread) reads the deadlines.
struct session {
  explicit session(tcp_socket s) : sock(std::move(s)) {}

  tcp_socket sock;
  worker* w = nullptr; ///< whose thread serves it
  std::string peer;
  std::string head;                       ///< the message head being written (its capacity kept)
  const static_file* file = nullptr;      ///< to stream after the head
  std::shared_ptr<const void> file_owner; ///< keeps file's deployment
  route_cache cache;
  std::string request_id;          ///< of the request being served
  int64_t deadline_ms = INT64_MAX; ///< shut the connection down after this
  /// what the deployment's routes add to the request's answer, and the
  /// query its function gets (when they change it)
  std::vector<std::pair<std::string, std::string>> route_headers;
  std::optional<std::string> route_query;

  // the kept-open connection to one instance
  std::unique_ptr<unix_socket> up;
  beast::flat_buffer up_buf;
  uint64_t up_serial = 0;
  const void* up_key = nullptr;
  bool up_waiting = false;            ///< a request is out to it
  int64_t up_deadline_ms = INT64_MAX; ///< its maxDuration ends
  bool up_cut = false;                ///< the watchdog shut it down
  body_budget::hold answer;           ///< of the router's bodies: the instance's answer held
  /// The parser of the instance's answer; with streaming, one relayed as
  /// it comes (the instance sent it in chunks, its head read), and the
  /// instance, held until its end.
  std::optional<http::response_parser<http::string_body>> up_parser;
  bool streaming = false;
  std::unique_ptr<stream_hold> stream_inst;

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

} // namespace router_parts

using router_parts::route_cache;
using router_parts::session;
using router_parts::worker;

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

  asio::io_context& make_workers();
  caf::expected<uint16_t> start();
  void stop();

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

  awaitable<void> accept_loop();
  awaitable<void> turn_away(tcp_socket sock);

  /// Every 50 ms: shuts down connections idle past their deadline and
  /// upstreams whose function ran past its maxDuration.
  awaitable<void> watch(worker& w);
  awaitable<void> serve(worker& w, tcp_socket sock, std::string client);

  static constexpr size_t max_target = 8192;
  static constexpr size_t max_routed_path = 4096;

  // A request costs one coroutine frame (the proxy's, for a function): the
  // steps below are plain functions between co_awaits of asio operations.

  awaitable<void> serve(session& s);

  /// Streams s.file's bytes (its head is sent) a piece at a time. An error
  /// ends the connection: its length was promised.
  awaitable<boost::system::error_code> send_file(session& s, int64_t idle_ms);

  /// Relays s.stream's body (its head is sent) in chunks as the instance
  /// sends it, within maxDuration and max_response; then gives the
  /// instance back. An error ends the connection: the answer is cut.
  awaitable<boost::system::error_code> relay_stream(session& s, int64_t idle_ms);

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
                   const response& res, clock::duration took);

  using found_deployment = caf::expected<routed>;

  /// The deployment at host, from the connection's last decision or the
  /// deployments the runtime has loaded; nullopt if it has to load it first.
  std::optional<found_deployment> lookup(session& s, const std::string& host, uint64_t gen);
  static void remember(session& s, const std::string& host, uint64_t gen,
                       const found_deployment& dep);

  /// The answer to a request that no function gives (a static file, an
  /// error), or nullopt: it goes to s.cache.fn through s.cache.pool.
  std::optional<response> answer(session& s, const request& req, const found_deployment& dep,
                                 const std::string& host, std::string& deployment);
  /// answer() for a deployment with routes (config.json's).
  std::optional<response> answer_routed(session& s, const request& req, const deployment& d,
                                        const std::string& path, std::string_view query,
                                        const std::string& host);
  /// The function fn for the request, through the connection's cache of
  /// its pool; an error page if the deployment went.
  std::optional<response> to_function(session& s, const deployment& d, const function_config& fn);

  /// Files up to this size are read whole; larger ones are streamed in
  /// pieces of this size (memory per download stays small).
  static constexpr size_t file_piece = 256 << 10;

  /// A static file; with a status other than 200 (the project's 404.html),
  /// never a 304 and no validator.
  response serve_static(session& s, const request& req, const static_file& f,
                        http::status status = http::status::ok);

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

  /// req to fn's instance: its answer (an error page if none). may_stream:
  /// an answer in chunks may go on to the client as it comes (else it is
  /// read whole).
  /// anonymous: the answer is everybody's (a prerender function's): the
  /// client's address does not go with the request.
  awaitable<response> proxy(session& s, request& req, const deployment& d,
                            const function_config& fn, const std::shared_ptr<function_pool>& pool,
                            const std::string& host, bool may_stream = true,
                            bool anonymous = false);

  // Prerender functions (router_prerender.cpp): their answers, kept by
  // deployment, function and the query parameters they are kept by.
  struct kept_answer {
    response res;
    int64_t fresh_until_ms = 0; ///< steady_ms(); INT64_MAX: until revalidated
    size_t bytes = 0;
    std::string owner;         ///< whose deployment's
    bool fallback = false;     ///< the build's fallback page, not yet replaced
    bool regenerating = false; ///< a new answer is being made
    std::list<std::string>::iterator in_all, in_owners; ///< its places in the LRU lists
  };
  std::mutex kept_mtx;
  std::map<std::string, kept_answer> kept;
  std::list<std::string> kept_lru;                         ///< every key, the most used first
  std::map<std::string, std::list<std::string>> owner_lru; ///< an owner's keys, so
  std::map<std::string, size_t> owner_bytes;               ///< and what they hold
  std::map<std::string, int> regenerations;                ///< in flight, by deployment
  std::map<std::string, int64_t> regeneration_logged;      ///< (ms) by deployment
  size_t kept_bytes = 0;
  static constexpr size_t kept_budget = 64 << 20;                   ///< past it the least used go
  static constexpr size_t kept_owner_budget = kept_budget / 4;      ///< one user's share at most
  static constexpr size_t kept_answer_max = (8 << 20) + (64 << 10); ///< (a fallback fits)
  static constexpr size_t kept_entries = 16384;
  static constexpr int regenerations_per_deployment = 4; ///< more stale pages wait their turn

  /// A GET or HEAD to a prerender function: a kept answer (the fallback
  /// first), a stale one while a new one is made in the background, or the
  /// function's own (then kept); a revalidation or draft mode with the
  /// bypass token.
  awaitable<response> prerendered(session& s, request& req,
                                  const std::shared_ptr<const deployment>& d,
                                  const function_config& fn,
                                  const std::shared_ptr<function_pool>& pool,
                                  const std::string& host);
  /// Makes a new answer for key in the background, on w's thread.
  awaitable<void> regenerate(worker& w, request req, std::shared_ptr<const deployment> d,
                             function_config fn, std::shared_ptr<function_pool> pool,
                             std::string host, std::string key);
  /// Routing Middleware (router_middleware.cpp): for a deployment that has
  /// one and a path it matches, its function's answer to the request
  /// (without its body): the answer to give (nullopt: routing goes on, at
  /// the path it rewrote to, with the request headers it set and its
  /// headers for the answer in s.route_headers).
  awaitable<std::optional<response>> middleware(session& s, request& req, const routed& found,
                                                const std::string& host);

  /// Keeps res under key for owner (kept_mtx held), the least used going
  /// past the budgets (the owner's own first).
  void keep(const std::string& key, const std::string& owner, response res, int64_t fresh_until_ms,
            bool fallback);
  /// Forgets a kept answer (kept_mtx held).
  void drop_kept(std::map<std::string, kept_answer>::iterator it);
};

} // namespace ferry::runtime
