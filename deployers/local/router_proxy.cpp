// A request to a function's instance: the kept-open connection, the
// maxDuration, its answer within the router's budget, and what a failure
// tells the client (a page) and the owner (a log line).
#include "deployers/local/router_impl.hpp"

// GCC 12 takes the coroutine frame of proxy() for a mismatched new/delete
// pair (asio's awaitable_frame_base declares both; a known false positive,
// GCC bug 109224), once the frame keeps the parser in the session.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ferry::runtime {

namespace {

/// The head of an answer relayed in chunks: the instance's, framed anew.
response stream_head(const http::response_parser<http::string_body>& p) {
  response res{p.get().base()};
  strip_hop_by_hop(res.base());
  res.chunked(true);
  return res;
}

} // namespace

awaitable<response> router::impl::proxy(session& s, request& req, const deployment& d,
                                        const function_config& fn,
                                        const std::shared_ptr<function_pool>& pool,
                                        const std::string& host, bool may_stream, bool anonymous) {
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
  if (auto bad =
          prepare_upstream_request(req, anonymous ? std::string() : s.peer, s.request_id, d, host))
    co_return std::move(*bad);
  bool head = req.method() == http::verb::head;
  auto& parser = s.up_parser; // (kept in the session: a stream goes on after this)
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
    // an answer the instance sends in chunks (a stream: server-sent
    // events, a Web Response of a ReadableStream) goes on as it comes, to
    // a client that takes chunks
    if (!ec && may_stream && !head && parser->chunked() && req.version() >= 11 &&
        has_body(parser->get().result_int())) {
      s.streaming = true;
      s.stream_inst = std::make_unique<router_parts::stream_hold>(rt, std::move(held.inst));
      co_return stream_head(*parser);
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
                           "the function's instance could not be reached; try again", s.request_id);
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

awaitable<boost::system::error_code> router::impl::relay_stream(session& s, int64_t idle_ms) {
  auto& p = *s.up_parser;
  boost::system::error_code ec;
  while (true) {
    auto& body = p.get().body();
    if (!body.empty()) { // (past max_response in all, the parser fails: body_limit)
      // a client that stops reading is cut before the instance's
      // maxDuration: the instance is given back, not stopped for it
      s.deadline_ms = std::min(steady_ms() + idle_ms, s.up_deadline_ms - 100);
      co_await asio::async_write(s.sock, http::make_chunk(asio::buffer(body)),
                                 asio::redirect_error(use_awaitable, ec));
      body.clear();
      if (ec)
        break;
    }
    if (p.is_done()) {
      s.up_waiting = false; // (its answer is whole: no watchdog for it now)
      break;
    }
    s.deadline_ms = INT64_MAX; // (the instance's pace: its maxDuration holds)
    co_await http::async_read_some(*s.up, s.up_buf, p, asio::redirect_error(use_awaitable, ec));
    if (ec)
      break;
  }
  if (!ec)
    co_await asio::async_write(s.sock, http::make_chunk_last(),
                               asio::redirect_error(use_awaitable, ec));
  s.up_waiting = false;
  if (s.stream_inst) {
    if (s.up_cut)
      s.stream_inst->how = outcome::timed_out;
    else if (ec && s.stream_inst->inst->proc->exited())
      s.stream_inst->how = outcome::crashed;
  }
  if (ec || p.need_eof())
    s.close_upstream();
  s.stream_inst.reset(); // (given back)
  s.streaming = false;
  co_return ec;
}

} // namespace ferry::runtime
