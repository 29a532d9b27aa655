#include "deployers/local/router_impl.hpp"

namespace ferry::runtime {

asio::io_context& router::impl::make_workers() {
  // by default half the cores: the other half runs the functions it proxies to
  auto n =
      opts.threads ? opts.threads : std::clamp(std::thread::hardware_concurrency() / 2, 1U, 8U);
  for (unsigned i = 0; i < n; ++i)
    workers.push_back(std::make_unique<worker>());
  return workers[0]->io;
}

caf::expected<uint16_t> router::impl::start() {
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

void router::impl::stop() {
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

awaitable<void> router::impl::accept_loop() {
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

awaitable<void> router::impl::turn_away(tcp_socket sock) {
  auto res = error_page(503, "TOO_MANY_CONNECTIONS", "the router is at its limit");
  res.keep_alive(false);
  res.prepare_payload();
  boost::system::error_code ec;
  co_await http::async_write(sock, res, asio::redirect_error(use_awaitable, ec));
  sock.shutdown(tcp::socket::shutdown_both, ec);
}

awaitable<void> router::impl::watch(worker& w) {
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

awaitable<void> router::impl::serve(worker& w, tcp_socket sock, std::string client) {
  session s{std::move(sock)};
  s.w = &w;
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

// (inline, as it was in the class: out of line, g++ 12 warns falsely of a
// mismatched operator delete of its coroutine frame)
inline awaitable<void> router::impl::serve(session& s) {
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
      // (a read, not a wait for readability: the bytes are most often there)
      auto got = co_await s.sock.async_read_some(buf.prepare(16 * 1024),
                                                 asio::redirect_error(use_awaitable, ec));
      if (ec)
        break;
      buf.commit(got);
    }
    s.deadline_ms = steady_ms() + head_ms;
    http::request_parser<http::string_body> parser;
    parser.header_limit(32 * 1024);
    parser.body_limit(opts.max_body);
    // the header first: http::read alone lets a body over the limit that
    // arrives with its header slip through
    co_await http::async_read_header(s.sock, buf, parser, asio::redirect_error(use_awaitable, ec));
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
      // (a table past its lease is asked afresh, and nothing is remembered)
      bool stale = rt.aliases_stale();
      auto found = stale ? decltype(lookup(s, host, gen)){} : lookup(s, host, gen);
      if (!found) { // to be loaded, or asked of the registry: may take a while
        auto load = [this, host] { return rt.route_host(host); };
        found = co_await offload(load);
        if (!stale)
          remember(s, host, gen, *found);
      }
      if (*found && !(*found)->dep->middleware_matchers.empty()) {
        deployment = (*found)->dep->id;
        res = co_await middleware(s, head_req, **found, host);
        if (res)
          scope_cookies(*res, host);
      }
      if (!res)
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
            if (auto why = check_framing(parser.get().base(), parser.get().version()); !why.empty())
              res = error_page(400, "BAD_REQUEST", "malformed HTTP request: " + why);
          }
        }
        if (!res) {
          req = parser.release();
          if (s.route_query) { // the routes' parameters join the query the function reads
            std::string target(req->target().substr(0, req->target().find('?')));
            if (!s.route_query->empty())
              target += "?" + *s.route_query;
            req->target(target);
          }
          auto dep = s.cache.dep; // the cache may change while this request waits
          auto pool = s.cache.pool;
          if (s.cache.fn->prerender && (req->method() == http::verb::get || head))
            res = co_await prerendered(s, *req, dep, *s.cache.fn, pool, host);
          else
            res = co_await proxy(s, *req, *dep, *s.cache.fn, pool, host);
          scope_cookies(*res, host);
        }
      }
    }
    if (!s.route_headers.empty() && res->result_int() < 500) {
      for (auto& [name, value] : s.route_headers) {
        if (beast::iequals(name, "set-cookie")) // (cookies add up: the answer's own stay)
          res->insert(name, value);
        else
          res->set(name, value);
      }
      scope_cookies(*res, host);
    }
    if (has_body && !parser.is_done())
      keep = false; // answered without reading its body: the connection ends
    const request& logged = req ? *req : parser.get();
    if (!deployment.empty())
      log_request(deployment, s.request_id, logged, *res, clock::now() - started);
    s.deadline_ms = steady_ms() + idle_ms; // a client that stops reading
    bool streamed = s.streaming;
    co_await asio::async_write(s.sock, head_and_body(s, *res, keep, !head && !streamed),
                               asio::redirect_error(use_awaitable, ec));
    if (!ec && s.file && !head)
      ec = co_await send_file(s, idle_ms);
    if (streamed) {
      if (!ec)
        ec = co_await relay_stream(s, idle_ms);
      else if (s.stream_inst) { // (the client went: the instance is given back, its answer cut)
        s.close_upstream();
        s.stream_inst.reset();
        s.streaming = false;
      }
    }
    s.up_parser.reset();
    s.route_headers.clear();
    s.route_query.reset();
    s.answer = {};
    s.file = nullptr;
    s.file_owner.reset();
    if (ec || !keep)
      break;
  }
}

awaitable<boost::system::error_code> router::impl::send_file(session& s, int64_t idle_ms) {
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

void router::impl::log_request(const std::string& deployment, const std::string& request_id,
                               const request& req, const response& res, clock::duration took) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  std::string line = "{\"t\":" + std::to_string(wall_ms()) + ",\"source\":\"router\",\"method\":\"";
  json_escape(line, std::string_view(req.method_string().data(), req.method_string().size()));
  line += "\",\"path\":\"";
  json_escape(line,
              std::string_view(req.target().data(), std::min<size_t>(req.target().size(), 2048)));
  line += "\",\"id\":\"" + request_id + "\",\"status\":" + std::to_string(res.result_int()) +
          ",\"ms\":" + std::to_string(us / 1000) + "." + std::to_string(us / 100 % 10) +
          std::to_string(us / 10 % 10) + "}";
  rt.logs().append(deployment, line);
}

std::optional<router::impl::found_deployment> router::impl::lookup(session& s,
                                                                   const std::string& host,
                                                                   uint64_t gen) {
  if (s.cache.dep && s.cache.host == host && s.cache.generation == gen)
    return found_deployment{routed{s.cache.dep, s.cache.env}};
  auto found = rt.route_host_loaded(host);
  if (found)
    remember(s, host, gen, *found);
  return found;
}

void router::impl::remember(session& s, const std::string& host, uint64_t gen,
                            const found_deployment& dep) {
  if (dep)
    s.cache = route_cache{host, gen, dep->dep, {}, nullptr, nullptr, nullptr, dep->env};
  else
    s.cache = route_cache{};
}

std::optional<response> router::impl::answer(session& s, const request& req,
                                             const found_deployment& dep, const std::string& host,
                                             std::string& deployment) {
  if (!dep) {
    if (code_of(dep.error()) == ec::not_found)
      return error_page(404, rt.aliases_known() ? "DEPLOYMENT_NOT_FOUND" : "ROUTES_LOADING",
                        "no deployment is served at " + host);
    std::cerr << "ferryd: router: request " << s.request_id << " to " << host.substr(0, 253) << ": "
              << reason_of(dep.error()) << "\n";
    return server_error(503, "DEPLOYMENT_UNAVAILABLE", "the deployment cannot be loaded now",
                        s.request_id);
  }
  auto& d = *dep->dep;
  auto& cache = s.cache;
  deployment = d.id;
  std::string_view target(req.target().data(), req.target().size());
  if (std::any_of(target.begin(), target.end(),
                  [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
    return error_page(400, "BAD_REQUEST", "a request target is ASCII: percent-encode other bytes");
  auto raw_path = target.substr(0, target.find('?'));
  std::string path;
  if (!percent_decode(raw_path, path) || path.empty() || path[0] != '/')
    return error_page(400, "BAD_REQUEST", "malformed path");
  if (!d.routing.empty())
    return answer_routed(s, req, d, path,
                         target.size() > raw_path.size() ? target.substr(raw_path.size() + 1) : "",
                         host);
  if (cache.path != path) {
    cache.path = path;
    auto [file, fn] = d.target_of(path);
    cache.file = file;
    if (fn != cache.fn)
      cache.pool.reset();
    cache.fn = fn;
  }
  bool readonly = req.method() == http::verb::get || req.method() == http::verb::head;
  if (readonly && cache.file)
    return serve_static(s, req, *cache.file);
  if (cache.fn)
    return to_function(s, d, *cache.fn);
  if (!readonly && cache.file)
    return error_page(405, "METHOD_NOT_ALLOWED", "static files answer GET and HEAD");
  // the project's own page for what is not there, as Vercel serves it
  if (readonly)
    if (auto* page = d.find_static("/404.html"))
      return serve_static(s, req, *page, http::status::not_found);
  return error_page(404, "NOT_FOUND", "no file or function at " + path);
}

std::optional<response> router::impl::to_function(session& s, const deployment& d,
                                                  const function_config& fn) {
  auto& cache = s.cache;
  if (&fn != cache.fn) {
    cache.pool.reset();
    cache.fn = &fn;
  }
  if (!cache.pool)
    cache.pool = rt.pool_of(d, fn, cache.env);
  if (!cache.pool)
    return error_page(404, "DEPLOYMENT_NOT_FOUND", "the deployment was removed");
  return std::nullopt;
}

std::optional<response> router::impl::answer_routed(session& s, const request& req,
                                                    const deployment& d, const std::string& path,
                                                    std::string_view query,
                                                    const std::string& host) {
  s.cache.path.clear(); // (the routes may read more than the path: nothing is remembered)
  if (path.size() > max_routed_path) // (matching costs the path's length times each pattern)
    return error_page(414, "URI_TOO_LONG",
                      "a path through this deployment's routes is at most 4 KiB");
  route_request rr{std::string_view(req.method_string().data(), req.method_string().size()), path,
                   query, host, [&req](std::string_view name) -> std::optional<std::string_view> {
                     auto it = req.find(beast::string_view(name.data(), name.size()));
                     if (it == req.end())
                       return std::nullopt;
                     return std::string_view(it->value().data(), it->value().size());
                   }};
  auto exists = [&d](const std::string& p) {
    auto [file, fn] = d.target_of(p);
    return file || fn;
  };
  auto r = route_request_through(d.routing, rr, exists);
  if (r.loop)
    return server_error(500, "ROUTING_LOOP",
                        "the deployment's routes go round in circles for this path", s.request_id);
  if (r.over_budget)
    return server_error(503, "ROUTES_TOO_SLOW",
                        "the deployment's routes take too long to match this request",
                        s.request_id);
  if (r.external)
    return error_page(502, "EXTERNAL_REWRITE_UNSUPPORTED",
                      "a route rewrites this path to another host, which ferry does not proxy");
  s.route_headers.insert(s.route_headers.end(), r.headers.begin(),
                         r.headers.end()); // (after
                                           // middleware's)
  if (r.redirect) {
    response res{static_cast<http::status>(r.status), 11};
    res.set(http::field::cache_control, "public, max-age=0, must-revalidate");
    res.prepare_payload();
    return res;
  }
  if (r.status == 204 || r.status == 304) { // (answers without a body)
    response res{static_cast<http::status>(r.status), 11};
    return res;
  }
  auto status = r.status ? static_cast<http::status>(r.status) : http::status::ok;
  bool readonly = req.method() == http::verb::get || req.method() == http::verb::head;
  auto [file, fn] =
      r.found ? d.target_of(r.path) : std::pair<const static_file*, const function_config*>{};
  if (readonly && file)
    return serve_static(s, req, *file, status);
  if (fn) {
    if (r.query != query)
      s.route_query = std::move(r.query);
    return to_function(s, d, *fn);
  }
  if (file)
    return error_page(405, "METHOD_NOT_ALLOWED", "static files answer GET and HEAD");
  int code = r.status ? r.status : 404;
  if (readonly && code == 404)
    if (auto* page = d.find_static("/404.html"))
      return serve_static(s, req, *page, http::status::not_found);
  if (code == 404)
    return error_page(404, "NOT_FOUND", "no file or function at " + path);
  return error_page(code, "ROUTE_STATUS", "the deployment's routes answer this path so");
}

response router::impl::serve_static(session& s, const request& req, const static_file& f,
                                    http::status status) {
  response res{status, 11};
  bool ok = status == http::status::ok;
  if (ok)
    res.set(http::field::etag, f.etag);
  res.set(http::field::cache_control, "public, max-age=0, must-revalidate");
  res.set(http::field::content_type, f.content_type);
  std::string_view inm(req[http::field::if_none_match].data(),
                       req[http::field::if_none_match].size());
  if (ok && !inm.empty() &&
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
