// Routing Middleware (Vercel's, for any project: builders/middleware.js
// makes it a function and the first route of the output): before the
// routes, on the paths its matcher takes, the router asks the middleware
// function about the request, and its answer says what happens:
//   - x-middleware-rewrite: URL  routing goes on at that path (of this
//                                deployment: another host is refused);
//   - x-middleware-next: 1       routing goes on;
//   - anything else              is the answer (a redirect, a 401, a page).
// When routing goes on, the middleware's other headers join the answer
// (as a route's do), and x-middleware-override-headers with
// x-middleware-request-NAME set the request's headers for what follows.
#include "deployers/local/router_impl.hpp"

#include "deployers/local/routing.hpp"

#include <algorithm>
#include <cctype>

// (as in router_proxy.cpp: GCC bug 109224, a false positive on coroutine frames)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ferry::runtime {

namespace {

/// Headers that frame a message or belong to one hop: never taken from the
/// middleware's answer into another, nor set on the request by it.
bool framing(const std::string& name) {
  static const char* names[] = {"content-length", "transfer-encoding",
                                "connection",     "keep-alive",
                                "upgrade",        "te",
                                "trailer",        "host",
                                "expect",         "proxy-connection",
                                "date",           "server"};
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return name == n; });
}

/// The path and query of a rewrite's URL when it stays on this host ("" if
/// it leaves it or is malformed).
std::string rewrite_target(std::string_view url, const std::string& host) {
  if (url.starts_with("/") && !url.starts_with("//"))
    return std::string(url);
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!url.starts_with(scheme))
      continue;
    auto rest = url.substr(scheme.size());
    auto slash = rest.find_first_of("/?#");
    auto authority = rest.substr(0, slash);
    if (auto colon = authority.rfind(':');
        colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos)
      authority = authority.substr(0, colon); // (the port the client named)
    if (lower(authority) != lower(host))
      return {};
    auto target =
        slash == std::string_view::npos ? std::string("/") : std::string(rest.substr(slash));
    if (target[0] == '?')
      target = "/" + target;
    return target;
  }
  return {};
}

} // namespace

awaitable<std::optional<response>> router::impl::middleware(session& s, request& req,
                                                            const routed& found,
                                                            const std::string& host) {
  auto dep = found.dep; // (kept while the middleware runs)
  auto& d = *dep;
  std::string_view target = view(req.target());
  auto raw_path = target.substr(0, target.find('?'));
  std::string path;
  if (!percent_decode(raw_path, path) || path.empty() || path[0] != '/' ||
      path.size() > max_routed_path)
    co_return std::nullopt; // (a malformed path is answered by the routing)
  // its matchers, within the routes' time budget (a tenant's patterns run on
  // the threads every tenant shares)
  auto started = clock::now();
  bool takes = false;
  for (auto& [src, except] : d.middleware_matchers) {
    if (clock::now() - started > std::chrono::milliseconds(50))
      co_return server_error(503, "ROUTES_TOO_SLOW",
                             "the deployment's middleware matchers take too long for this path",
                             s.request_id);
    if (matches_whole(*src, path) && !(except && matches_whole(*except, path))) {
      takes = true;
      break;
    }
  }
  if (!takes)
    co_return std::nullopt;
  // the path as the router routes it (decoded), encoded again only where it
  // must be: the middleware judges the path that is served (no "/%73ecret"
  // past a check of "/secret", no "%2F" past one of "/admin/"); what
  // follows gets the same
  std::string canonical;
  for (unsigned char c : path) {
    if (c <= 0x20 || c >= 0x7f || c == '%' || c == '?' || c == '#') {
      static const char* hex = "0123456789ABCDEF";
      canonical += '%';
      canonical += hex[c >> 4];
      canonical += hex[c & 15];
    } else {
      canonical += static_cast<char>(c);
    }
  }
  canonical += target.substr(raw_path.size());
  req.target(canonical);
  auto fn = d.functions.find(d.middleware_fn);
  auto pool = fn == d.functions.end() ? nullptr : rt.pool_of(d, fn->second, found.env);
  if (!pool)
    co_return error_page(404, "DEPLOYMENT_NOT_FOUND", "the deployment was removed");
  // the request as the client sent it, without its body (the function that
  // serves it gets that)
  request ask{req.method(), req.target(), 11};
  for (auto& f : req.base())
    if (f.name() != http::field::content_length && f.name() != http::field::transfer_encoding)
      ask.insert(f.name_string(), f.value());
  auto res = co_await proxy(s, ask, d, fn->second, pool, host, false);
  auto rewrite = view(res["x-middleware-rewrite"]);
  bool next = !res["x-middleware-next"].empty();
  if (rewrite.empty() && !next) { // its answer is the answer
    std::vector<std::string> own;
    for (auto& f : res.base())
      if (lower(view(f.name_string())).starts_with("x-middleware-"))
        own.emplace_back(f.name_string());
    for (auto& name : own)
      res.erase(name);
    co_return std::optional<response>(std::move(res));
  }
  // the request's headers for what follows: those it lists, as it set them
  // (the others go, as Next.js has it; what frames the request stays)
  if (auto list = view(res["x-middleware-override-headers"]); !list.empty()) {
    std::vector<std::string> listed;
    for (auto rest = list; !rest.empty();) {
      auto comma = rest.find(',');
      auto item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      while (!item.empty() && item.front() == ' ')
        item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ')
        item.remove_suffix(1);
      listed.push_back(lower(item));
    }
    std::vector<std::string> unlisted;
    for (auto& f : req.base()) {
      auto name = lower(view(f.name_string()));
      if (!framing(name) && !name.starts_with("x-ferry-") &&
          std::find(listed.begin(), listed.end(), name) == listed.end())
        unlisted.push_back(name);
    }
    for (auto& name : unlisted)
      req.erase(name);
    for (auto& name : listed) {
      if (name.empty() || framing(name) || name.starts_with("x-ferry-") ||
          name.starts_with("x-middleware-"))
        continue;
      auto it = res.find("x-middleware-request-" + name);
      if (it == res.end())
        req.erase(name);
      else
        req.set(name, it->value());
    }
  }
  // its headers for the answer
  for (auto& f : res.base()) {
    auto name = lower(view(f.name_string()));
    if (!framing(name) && !name.starts_with("x-middleware-") && name != "content-type" &&
        name != "content-encoding" && name != "x-ferry-id")
      s.route_headers.emplace_back(name, std::string(view(f.value())));
  }
  if (!rewrite.empty()) {
    auto to = rewrite_target(rewrite, host);
    if (to.empty())
      co_return error_page(502, "EXTERNAL_REWRITE_UNSUPPORTED",
                           "the middleware rewrites this request to another host, which ferry "
                           "does not proxy");
    if (to.size() > max_target ||
        std::any_of(to.begin(), to.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; }))
      co_return server_error(500, "MIDDLEWARE_INVOCATION_FAILED",
                             "the middleware rewrote to a malformed path", s.request_id);
    req.target(to);
  }
  co_return std::nullopt;
}

} // namespace ferry::runtime
