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
/// nothing of the client's own goes with it (cookies, credentials, its
/// address, its spelling of the path or the host): the function's own path,
/// the deployment's host, and the kept parameters (x-now-route-matches; in
/// the query too with passQuery: the others never, they do not key it).
request prerender_request(const function_config& fn, const std::string& host,
                          const std::string& matches, const prerender_config& pr) {
  std::string path = "/" + fn.name;
  if (path == "/index" || path.ends_with("/index"))
    path.resize(path.size() - 5);
  if (path.size() > 1 && path.back() == '/')
    path.pop_back();
  request up{http::verb::get, pr.pass_query && !matches.empty() ? path + "?" + matches : path, 11};
  up.set(http::field::host, host);
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

void router::impl::drop_kept(std::map<std::string, kept_answer>::iterator it) {
  auto& k = it->second;
  kept_bytes -= k.bytes;
  owner_bytes[k.owner] -= k.bytes;
  kept_lru.erase(k.in_all);
  auto& mine = owner_lru[k.owner];
  mine.erase(k.in_owners);
  if (mine.empty()) {
    owner_lru.erase(k.owner);
    owner_bytes.erase(k.owner);
  }
  kept.erase(it);
}

void router::impl::keep(const std::string& key, const std::string& owner, response res,
                        int64_t fresh_until_ms, bool fallback) {
  // (one visitor's cookie is nobody else's)
  res.erase(http::field::set_cookie);
  res.erase("set-cookie2");
  if (auto it = kept.find(key); it != kept.end())
    drop_kept(it);
  size_t bytes = res.body().size() + key.size() + 512;
  for (auto& f : res.base())
    bytes += f.name_string().size() + f.value().size();
  if (bytes > kept_answer_max)
    return; // (served, never kept)
  // room: the owner's own least used first past its share, then anyone's
  while (owner_bytes.count(owner) && owner_bytes[owner] + bytes > kept_owner_budget)
    drop_kept(kept.find(owner_lru[owner].back()));
  while ((kept_bytes + bytes > kept_budget || kept.size() >= kept_entries) && !kept_lru.empty())
    drop_kept(kept.find(kept_lru.back()));
  auto& k = kept[key];
  k.res = std::move(res);
  k.fresh_until_ms = fresh_until_ms;
  k.bytes = bytes;
  k.owner = owner;
  k.fallback = fallback;
  k.in_all = kept_lru.insert(kept_lru.begin(), key);
  auto& mine = owner_lru[owner];
  k.in_owners = mine.insert(mine.begin(), key);
  owner_bytes[owner] += bytes;
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
  auto up = prerender_request(fn, host, matches, pr);
  auto now = steady_ms();
  if (!revalidate) {
    std::optional<response> hit;
    const char* how = "HIT";
    bool start = false;
    {
      std::lock_guard<std::mutex> guard{kept_mtx};
      auto it = kept.find(key);
      if (it == kept.end() && pr.fallback) {
        keep(key, d->owner, fallback_answer(pr), fresh_until(d->loaded_ms, pr), true);
        it = kept.find(key);
      }
      if (it != kept.end()) {
        auto& k = it->second;
        kept_lru.splice(kept_lru.begin(), kept_lru, k.in_all); // (the most used now)
        auto& mine = owner_lru[k.owner];
        mine.splice(mine.begin(), mine, k.in_owners);
        hit = k.res;
        if (k.fresh_until_ms <= now) {
          how = "STALE";
          // one new answer at a time for a page, a few at a time for a
          // deployment: the others are made when a later request comes
          auto& running = regenerations[d->id];
          start = !k.regenerating && running < regenerations_per_deployment;
          if (start) {
            k.regenerating = true;
            ++running;
          }
        } else if (k.fallback) {
          how = "PRERENDER";
        }
      } else if (pr.fallback) { // (too large to keep: served as it is)
        hit = fallback_answer(pr);
        how = "PRERENDER";
      }
    }
    if (hit) {
      if (start)
        asio::co_spawn(s.sock.get_executor(),
                       regenerate(*s.w, std::move(up), d, fn, pool, host, key), asio::detached);
      // a copy of what is kept, held until the client has it: within the
      // client's share of the router's answers, as a function's is
      s.answer = bodies.take(s.peer, 0);
      if (!s.answer.grow(hit->body().size()))
        co_return server_error(
            503, "TOO_MANY_REQUESTS",
            "too many answers in flight to this client; read them, or send again", s.request_id);
      hit->set("x-ferry-cache", how);
      co_return std::move(*hit);
    }
  }
  // nothing kept yet, or a revalidation: the function answers now (whole:
  // what is kept is served again)
  auto res = co_await proxy(s, up, *d, fn, pool, host, false, true);
  if (res.result_int() < 500) {
    std::lock_guard<std::mutex> guard{kept_mtx};
    keep(key, d->owner, res, fresh_until(steady_ms(), pr), false);
  }
  res.erase(http::field::set_cookie);
  res.erase("set-cookie2");
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
    res = co_await proxy(bg, req, *d, fn, pool, host, false, true);
  } catch (const std::exception&) {
    // the router is stopping: the stale answer stays
  }
  bg.close_upstream();
  bg.answer = {};
  w.sessions.erase(&bg);
  bool kept_new = res && res->result_int() < 500;
  bool log = false;
  {
    std::lock_guard<std::mutex> guard{kept_mtx};
    if (--regenerations[d->id] <= 0)
      regenerations.erase(d->id);
    if (kept_new) {
      keep(key, d->owner, std::move(*res), fresh_until(steady_ms(), *fn.prerender), false);
    } else if (auto it = kept.find(key); it != kept.end()) {
      it->second.regenerating = false; // the stale answer stays; a later request tries again
    }
    // (a failing function says so once a second, not once a page)
    auto& logged = regeneration_logged[d->id];
    log = !kept_new && steady_ms() - logged >= 1000;
    if (log)
      logged = steady_ms();
    if (regeneration_logged.size() > 4096)
      regeneration_logged.clear();
  }
  if (log)
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
