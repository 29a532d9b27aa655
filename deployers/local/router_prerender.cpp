// Prerender functions (the Build Output API's NAME.prerender-config.json,
// what Vercel calls Incremental Static Regeneration): the router keeps a
// function's answer and serves it to everyone until it expires; then it
// serves the stale answer while one new answer is made in the background.
// The build's fallback page stands in until the first answer is made. A
// request with the bypass token revalidates at once (header
// x-prerender-revalidate) or passes the cache by (draft mode, cookie
// __prerender_bypass).
#include "deployers/local/router_impl.hpp"

#include "deployers/local/routing.hpp"

#include <algorithm>

// (as in router_proxy.cpp: GCC bug 109224, a false positive on coroutine frames)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ferry::runtime {

namespace {

std::string_view view(beast::string_view v) {
  return {v.data(), v.size()};
}

/// Whether a client's value is the token (in time that does not tell how
/// much of it matched).
bool same_secret(std::string_view given, const std::string& token) {
  if (token.empty() || given.size() != token.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  return diff == 0;
}

/// The query items an answer is kept by (allowQuery's, or all), in order.
std::string kept_query(std::string_view query, const prerender_config& pr) {
  std::vector<std::string> items;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty())
      continue;
    if (pr.allow_query) {
      auto pairs = parse_query(item);
      if (pairs.empty() || std::find(pr.allow_query->begin(), pr.allow_query->end(),
                                     pairs[0].first) == pr.allow_query->end())
        continue;
    }
    items.emplace_back(item);
  }
  std::sort(items.begin(), items.end());
  std::string out;
  for (auto& i : items)
    out += (out.empty() ? "" : "&") + i;
  return out;
}

/// The request a prerender function gets: its answer is everybody's, so
/// nothing of the client's own (cookies, credentials) goes with it. The
/// kept parameters come as x-now-route-matches; the query only with
/// passQuery.
request prerender_request(const request& from, const std::string& path, const std::string& query,
                          const std::string& matches, const prerender_config& pr) {
  request up{http::verb::get, pr.pass_query && !query.empty() ? path + "?" + query : path, 11};
  up.set(http::field::host, from[http::field::host]);
  if (!matches.empty())
    up.set("x-now-route-matches", matches);
  return up;
}

response fallback_answer(const prerender_config& pr) {
  response res{static_cast<http::status>(pr.initial_status), 11};
  res.set(http::field::content_type, pr.fallback_type);
  for (auto& [name, value] : pr.initial_headers)
    res.set(name, value);
  res.body() = *pr.fallback;
  res.prepare_payload();
  return res;
}

int64_t fresh_until(int64_t from_ms, const prerender_config& pr) {
  return pr.expiration_s ? from_ms + pr.expiration_s * 1000 : INT64_MAX;
}

} // namespace

void router::impl::keep(const std::string& key, response res, int64_t fresh_until_ms,
                        bool fallback) {
  res.erase(http::field::set_cookie); // (one visitor's cookie is nobody else's)
  if (auto it = kept.find(key); it != kept.end()) {
    kept_bytes -= it->second.bytes;
    kept.erase(it);
  }
  size_t bytes = res.body().size() + key.size() + 512;
  for (auto& f : res.base())
    bytes += f.name_string().size() + f.value().size();
  if (bytes > kept_budget / 4)
    return; // (served, never kept: a few such answers would empty the cache)
  while (kept_bytes + bytes > kept_budget && !kept.empty()) {
    auto old = std::min_element(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
      return a.second.used_ms < b.second.used_ms;
    });
    kept_bytes -= old->second.bytes;
    kept.erase(old);
  }
  auto& k = kept[key];
  k.res = std::move(res);
  k.fresh_until_ms = fresh_until_ms;
  k.used_ms = steady_ms();
  k.bytes = bytes;
  k.fallback = fallback;
  kept_bytes += bytes;
}

awaitable<response> router::impl::prerendered(session& s, request& req,
                                              const std::shared_ptr<const deployment>& d,
                                              const function_config& fn,
                                              const std::shared_ptr<function_pool>& pool,
                                              const std::string& host) {
  auto& pr = *fn.prerender;
  std::string target(req.target());
  auto mark = target.find('?');
  auto path = target.substr(0, mark);
  auto query = mark == std::string::npos ? std::string() : target.substr(mark + 1);
  auto matches = kept_query(query, pr);
  auto key = d->id + '\n' + fn.name + '\n' + matches;
  bool revalidate = same_secret(view(req["x-prerender-revalidate"]), pr.bypass_token);
  if (!revalidate && !pr.bypass_token.empty()) {
    auto cookies = parse_cookies(view(req[http::field::cookie]));
    auto draft = std::find_if(cookies.begin(), cookies.end(), [&](const auto& c) {
      return c.first == "__prerender_bypass" && same_secret(c.second, pr.bypass_token);
    });
    if (draft != cookies.end()) { // draft mode: the function's answer to this very request
      auto res = co_await proxy(s, req, *d, fn, pool, host);
      res.set("x-ferry-cache", "BYPASS");
      co_return res;
    }
  }
  auto up = prerender_request(req, path, query, matches, pr);
  auto now = steady_ms();
  if (!revalidate) {
    std::optional<response> hit;
    const char* how = "HIT";
    bool start = false;
    {
      std::lock_guard<std::mutex> guard{kept_mtx};
      auto it = kept.find(key);
      if (it == kept.end() && pr.fallback) {
        keep(key, fallback_answer(pr), fresh_until(d->loaded_ms, pr), true);
        it = kept.find(key);
      }
      if (it != kept.end()) {
        auto& k = it->second;
        hit = k.res;
        k.used_ms = now;
        if (k.fresh_until_ms <= now) {
          how = "STALE";
          start = !k.regenerating;
          k.regenerating = true;
        } else if (k.fallback) {
          how = "PRERENDER";
        }
      }
    }
    if (hit) {
      if (start)
        asio::co_spawn(s.sock.get_executor(),
                       regenerate(*s.w, std::move(up), d, fn, pool, host, key), asio::detached);
      hit->set("x-ferry-cache", how);
      co_return std::move(*hit);
    }
  }
  // nothing kept yet, or a revalidation: the function answers now (whole:
  // what is kept is served again)
  auto res = co_await proxy(s, up, *d, fn, pool, host, false);
  if (res.result_int() < 500) {
    std::lock_guard<std::mutex> guard{kept_mtx};
    keep(key, res, fresh_until(steady_ms(), pr), false);
  }
  res.erase(http::field::set_cookie);
  res.set("x-ferry-cache", revalidate ? "REVALIDATED" : "MISS");
  co_return res;
}

awaitable<void> router::impl::regenerate(worker& w, request req,
                                         std::shared_ptr<const deployment> d, function_config fn,
                                         std::shared_ptr<function_pool> pool, std::string host,
                                         std::string key) {
  tcp_socket none{w.io.get_executor()}; // (no client: the answer is kept)
  session bg{std::move(none)};
  bg.w = &w;
  bg.peer = "127.0.0.1";
  bg.request_id = new_request_id();
  w.sessions.insert(&bg); // its maxDuration is watched as a client's request is
  std::optional<response> res;
  try {
    res = co_await proxy(bg, req, *d, fn, pool, host, false);
  } catch (const std::exception&) {
    // the router is stopping: the stale answer stays
  }
  bg.close_upstream();
  w.sessions.erase(&bg);
  bool kept_new = res && res->result_int() < 500;
  {
    std::lock_guard<std::mutex> guard{kept_mtx};
    if (kept_new) {
      keep(key, std::move(*res), fresh_until(steady_ms(), *fn.prerender), false);
    } else if (auto it = kept.find(key); it != kept.end()) {
      it->second.regenerating = false; // the stale answer stays; a later request tries again
    }
  }
  if (!kept_new)
    rt.logs().append(d->id,
                     json_text(json{{"t", wall_ms()},
                                    {"level", "error"},
                                    {"source", "router"},
                                    {"request_id", bg.request_id},
                                    {"function", fn.name},
                                    {"error", "a prerendered page was not made anew (" +
                                                  std::to_string(res ? res->result_int() : 0) +
                                                  "): the stale one is served"}}));
}

} // namespace ferry::runtime
