#include "deployers/local/router.hpp"

#include "actors/http_listener.hpp"
#include "deployers/local/process.hpp"
#include "messages/errors.hpp"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace ferry::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol::socket;

namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

response error_page(unsigned status, const std::string& code, const std::string& message) {
  response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.set("x-ferry-error", code);
  res.body() = std::to_string(status) + ": " + code + "\n" + message + "\n";
  return res;
}

/// "/a%20b" -> "/a b"; false if an escape is malformed or decodes to NUL.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2])))
      return false;
    char c = static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
    if (c == '\0')
      return false;
    out += c;
    i += 2;
  }
  return true;
}

bool is_hop_by_hop(http::field f) {
  return f == http::field::connection || f == http::field::keep_alive ||
         f == http::field::proxy_connection || f == http::field::te || f == http::field::trailer ||
         f == http::field::transfer_encoding || f == http::field::upgrade;
}

void strip_hop_by_hop(http::fields& h) {
  for (auto it = h.begin(); it != h.end();) {
    if (is_hop_by_hop(it->name()))
      it = h.erase(it);
    else
      ++it;
  }
}

/// The last routing decision of a connection, good while the runtime's
/// generation does not change.
struct route_cache {
  std::string host;
  uint64_t generation = 0;
  std::shared_ptr<const deployment> dep;
  const function_config* fn = nullptr; ///< of dep, with its pool
  std::shared_ptr<function_pool> pool;
};

/// JSON string contents for s (quotes and backslashes escaped, control
/// characters as \u00XX).
void json_escape(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\u00";
      out += hex[(c >> 4) & 15];
      out += hex[c & 15];
    } else {
      out += c;
    }
  }
}

/// The kept-open connection of a client connection to one instance.
struct upstream {
  asio::io_context& io;
  std::unique_ptr<unix_socket> sock;
  beast::flat_buffer buf;
  uint64_t serial = 0;
  const void* pool_key = nullptr;

  void close(watched_conn& conn) {
    if (!sock)
      return;
    conn.clear_upstream();
    boost::system::error_code ec;
    sock->close(ec);
    sock.reset();
    buf.clear();
  }

  bool connect(watched_conn& conn, const instance& inst) {
    close(conn);
    sock = std::make_unique<unix_socket>(io);
    boost::system::error_code ec;
    sock->connect(asio::local::stream_protocol::endpoint(inst.socket_path), ec);
    if (ec) {
      sock.reset();
      return false;
    }
    serial = inst.serial;
    pool_key = inst.proc.get();
    conn.watch_upstream(sock->native_handle());
    return true;
  }
};

} // namespace

struct router::impl {
  core& rt;
  router_options opts;
  http_listener listener;

  impl(core& c, router_options o)
      : rt(c),
        opts(std::move(o)),
        listener(
            opts.max_connections, [this](tcp::socket& s, watched_conn& c) { serve(s, c); },
            [](tcp::socket& s) {
              auto res = error_page(503, "TOO_MANY_CONNECTIONS", "the router is at its limit");
              res.keep_alive(false);
              res.prepare_payload();
              boost::system::error_code ec;
              http::write(s, res, ec);
            }) {}

  void serve(tcp::socket& sock, watched_conn& conn) {
    asio::io_context io;
    upstream up{io, nullptr, {}, 0, nullptr};
    route_cache cache;
    beast::flat_buffer buf;
    boost::system::error_code ec;
    auto peer = sock.remote_endpoint(ec).address().to_string(ec);
    const int64_t idle_ms = int64_t{opts.idle_timeout_s} * 1000;
    while (true) {
      conn.idle_for(idle_ms);
      http::request_parser<http::string_body> parser;
      parser.header_limit(32 * 1024);
      parser.body_limit(opts.max_body);
      http::read(sock, buf, parser, ec);
      if (ec == http::error::body_limit || ec == http::error::header_limit) {
        auto res = error_page(413, "REQUEST_TOO_LARGE", "the request is over the router's limit");
        send(sock, res, false, false);
        break;
      }
      if (ec) {
        if (ec != http::error::end_of_stream && ec != asio::error::eof &&
            ec != asio::error::connection_reset && ec != http::error::partial_message &&
            ec != asio::error::bad_descriptor && ec != asio::error::broken_pipe) {
          auto res = error_page(400, "BAD_REQUEST", "malformed HTTP request");
          send(sock, res, false, false);
        }
        break;
      }
      conn.deadline_ms = INT64_MAX;
      auto req = parser.release();
      bool keep = req.keep_alive();
      bool head = req.method() == http::verb::head;
      auto started = clock::now();
      std::string deployment;
      auto res = handle(req, up, conn, peer, deployment, cache);
      res.keep_alive(keep);
      if (!deployment.empty()) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started);
        std::string line =
            "{\"t\":" + std::to_string(wall_ms()) + ",\"source\":\"router\",\"method\":\"";
        json_escape(line, std::string_view(req.method_string().data(), req.method_string().size()));
        line += "\",\"path\":\"";
        json_escape(line, std::string_view(req.target().data(),
                                           std::min<size_t>(req.target().size(), 2048)));
        line += "\",\"status\":" + std::to_string(res.result_int()) +
                ",\"ms\":" + std::to_string(us.count() / 1000) + "." +
                std::to_string(us.count() / 100 % 10) + std::to_string(us.count() / 10 % 10) + "}";
        rt.logs().append(deployment, line);
      }
      if (!send(sock, res, keep, head) || !keep)
        break;
    }
    up.close(conn);
  }

  static bool send(tcp::socket& sock, response& res, bool keep, bool head) {
    res.set(http::field::server, "ferry");
    res.keep_alive(keep);
    if (!res.has_content_length() && !res.chunked())
      res.prepare_payload();
    boost::system::error_code ec;
    if (head) {
      http::response_serializer<http::string_body> sr{res};
      http::write_header(sock, sr, ec);
    } else {
      http::write(sock, res, ec);
    }
    return !ec;
  }

  response handle(request& req, upstream& up, watched_conn& conn, const std::string& peer,
                  std::string& deployment, route_cache& cache) {
    std::string host(req[http::field::host]);
    if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(']') == host.npos)
      host.resize(colon);
    std::transform(host.begin(), host.end(), host.begin(), ::tolower);
    if (host.empty())
      return error_page(400, "BAD_REQUEST", "the request names no Host");
    caf::expected<std::shared_ptr<const runtime::deployment>> dep{caf::error{}};
    auto gen = rt.generation();
    if (cache.dep && cache.host == host && cache.generation == gen) {
      dep = cache.dep;
    } else {
      dep = rt.route_host(host);
      if (dep)
        cache = route_cache{host, gen, *dep, nullptr, nullptr};
    }
    if (!dep) {
      if (code_of(dep.error()) == ec::not_found)
        return error_page(404, rt.aliases_known() ? "DEPLOYMENT_NOT_FOUND" : "ROUTES_LOADING",
                          "no deployment is served at " + host);
      return error_page(503, "DEPLOYMENT_UNAVAILABLE", reason_of(dep.error()));
    }
    auto& d = **dep;
    deployment = d.id;
    std::string_view target(req.target().data(), req.target().size());
    auto raw_path = target.substr(0, target.find('?'));
    std::string path;
    if (!percent_decode(raw_path, path) || path.empty() || path[0] != '/')
      return error_page(400, "BAD_REQUEST", "malformed path");
    bool readonly = req.method() == http::verb::get || req.method() == http::verb::head;
    if (readonly)
      if (auto* f = d.find_static(path))
        return serve_static(req, *f);
    if (auto* fn = d.find_function(path)) {
      if (cache.fn != fn || !cache.pool) {
        cache.fn = fn;
        cache.pool = rt.pool_of(d, *fn);
      }
      if (!cache.pool)
        return error_page(404, "DEPLOYMENT_NOT_FOUND", "the deployment was removed");
      return proxy(req, d, *fn, *cache.pool, up, conn, peer, host);
    }
    if (!readonly && d.find_static(path))
      return error_page(405, "METHOD_NOT_ALLOWED", "static files answer GET and HEAD");
    return error_page(404, "NOT_FOUND", "no file or function at " + path);
  }

  response serve_static(const request& req, const static_file& f) {
    response res{http::status::ok, 11};
    res.set(http::field::etag, f.etag);
    res.set(http::field::cache_control, "public, max-age=0, must-revalidate");
    res.set(http::field::content_type, f.content_type);
    std::string_view inm(req[http::field::if_none_match].data(),
                         req[http::field::if_none_match].size());
    if (!inm.empty() &&
        (inm == f.etag || inm == "*" || inm.find(f.etag) != std::string_view::npos)) {
      res.result(http::status::not_modified);
      res.content_length(0);
      return res;
    }
    std::ifstream in(f.disk_path, std::ios::binary);
    if (!in)
      return error_page(500, "FILE_UNREADABLE", "a static file of this deployment is unreadable");
    std::string body(f.size, '\0');
    in.read(body.data(), static_cast<std::streamsize>(body.size()));
    body.resize(static_cast<size_t>(in.gcount()));
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  response proxy(request& req, const deployment& d, const function_config& fn, function_pool& pool,
                 upstream& up, watched_conn& conn, const std::string& peer,
                 const std::string& host) {
    auto deadline = clock::now() + std::chrono::seconds(fn.max_duration_s);
    auto inst = rt.acquire(pool, std::min(deadline, clock::now() + std::chrono::seconds(30)));
    if (!inst)
      return error_page(503, "FUNCTION_UNAVAILABLE", reason_of(inst.error()));
    auto& i = **inst;
    strip_hop_by_hop(req.base());
    req.set("x-forwarded-for", peer);
    req.set("x-forwarded-host", host);
    req.set("x-forwarded-proto", "http");
    req.set("x-ferry-deployment", d.id);
    req.keep_alive(true);
    req.prepare_payload();
    http::response_parser<http::string_body> parser;
    parser.body_limit(opts.max_response);
    parser.header_limit(64 * 1024);
    boost::system::error_code ec;
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = up.sock && up.serial == i.serial && up.pool_key == i.proc.get();
      if (!reused && !up.connect(conn, i)) {
        ec = asio::error::connection_refused;
        break;
      }
      conn.upstream_deadline_ms = watched_conn::now_ms() + int64_t{fn.max_duration_s} * 1000 + 50;
      http::write(*up.sock, req, ec);
      if (!ec)
        http::read(*up.sock, up.buf, parser, ec);
      conn.upstream_deadline_ms = INT64_MAX;
      // a kept-open connection that fails before any answer is tried once more
      if (ec && reused && !conn.upstream_cut && !parser.got_some() && !i.proc->exited()) {
        up.close(conn);
        continue;
      }
      break;
    }
    if (!ec) {
      rt.release(*inst, outcome::ok);
      auto res = parser.release();
      strip_hop_by_hop(res.base());
      res.prepare_payload();
      return res;
    }
    bool timed_out = conn.upstream_cut.load();
    up.close(conn);
    if (timed_out) {
      rt.release(*inst, outcome::timed_out);
      rt.logs().append(d.id, json{{"t", wall_ms()},
                                  {"level", "error"},
                                  {"source", "router"},
                                  {"function", fn.name},
                                  {"error", "timed out after " + std::to_string(fn.max_duration_s) +
                                                " s (maxDuration); instance stopped"}}
                                 .dump());
      return error_page(
          504, "FUNCTION_INVOCATION_TIMEOUT",
          "the function ran past its maxDuration of " + std::to_string(fn.max_duration_s) + " s");
    }
    if (ec == http::error::body_limit) {
      rt.release(*inst, outcome::ok);
      return error_page(502, "FUNCTION_RESPONSE_TOO_LARGE", "the function's response is too large");
    }
    // the instance died (out of memory, exit, crash): give it a moment to be reaped
    for (int k = 0; k < 20 && !i.proc->exited(); ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    rt.release(*inst, outcome::crashed);
    rt.logs().append(d.id,
                     json{{"t", wall_ms()},
                          {"level", "error"},
                          {"source", "router"},
                          {"function", fn.name},
                          {"error", "the instance failed mid-request: " + i.proc->describe_exit()}}
                         .dump());
    return error_page(500, "FUNCTION_INVOCATION_FAILED",
                      "the function's instance failed: " + i.proc->describe_exit());
  }
};

router::router(core& c, router_options opts) : impl_(std::make_unique<impl>(c, std::move(opts))) {}

router::~router() {
  stop();
}

caf::expected<uint16_t> router::start() {
  return impl_->listener.start(impl_->opts.host, impl_->opts.port);
}

void router::stop() {
  impl_->listener.stop();
}

} // namespace ferry::runtime
