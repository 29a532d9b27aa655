#include "deployers/local/routing.hpp"

#include "deployers/local/http_text.hpp"
#include "messages/errors.hpp"

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <set>

namespace ferry::runtime {

using json = nlohmann::json;

namespace {

constexpr int max_steps = 32; ///< phases one request may go through
constexpr size_t max_groups = 32;
/// A table's size: every request of the deployment may try each route, on
/// threads all tenants share (Vercel allows 2048 routes).
constexpr size_t max_rules = 2048;
constexpr size_t max_conditions = 16; ///< a route's has and missing, each
/// RE2's memory for one pattern (its program and its DFA's cache): the
/// patterns of routes are small; one that needs more is refused.
constexpr int64_t pattern_memory = 64 << 10;
/// A pattern's and a table's size in RE2 instructions. Matching costs at
/// worst (when RE2's DFA gives up) the text's length times the program's
/// size: path-to-regexp's patterns are tens of instructions, a pattern of
/// thousands is a tenant's way to stall the router's shared threads.
constexpr int max_program = 512;
constexpr int64_t max_table_program = 64 << 10;
/// And so a request's routing stops past this, with an error of its own
/// (each match is at most max_program times a path of max_routed_path).
constexpr auto routing_budget = std::chrono::milliseconds(50);
/// A header, cookie or query value longer than this matches no pattern.
constexpr size_t max_condition_text = 4096;

} // namespace

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

namespace {

/// Headers a route may not set: they frame the answer (the router's own).
bool framing_header(const std::string& name) {
  static const std::set<std::string, std::less<>> framing{
      "connection", "content-length", "keep-alive",        "proxy-connection",
      "te",         "trailer",        "transfer-encoding", "upgrade"};
  return framing.count(name) > 0;
}

/// A header's value with control characters (a CR or LF from a request's
/// path, say) percent-encoded: a route's header never splits the answer.
std::string header_safe(std::string v) {
  static const char* hex = "0123456789ABCDEF";
  if (std::none_of(v.begin(), v.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
    return v;
  std::string out;
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

/// A PCRE pattern (what Vercel's routes are written in) for RE2: named
/// groups `(?<name>` are spelled `(?P<name>` there. What else RE2 lacks
/// (look-around, back-references) fails to compile, with RE2's reason.
std::string for_re2(const std::string& pcre) {
  std::string out;
  out.reserve(pcre.size() + 8);
  for (size_t i = 0; i < pcre.size(); ++i) {
    if (pcre[i] == '\\' && i + 1 < pcre.size()) {
      out += pcre[i];
      out += pcre[++i];
      continue;
    }
    if (pcre.compare(i, 3, "(?<") == 0 && i + 3 < pcre.size() &&
        std::isalpha(static_cast<unsigned char>(pcre[i + 3]))) {
      out += "(?P<";
      i += 2;
      continue;
    }
    out += pcre[i];
  }
  return out;
}

caf::expected<std::shared_ptr<const re2::RE2>> compile(const std::string& pattern,
                                                       bool case_sensitive,
                                                       const std::string& what) {
  re2::RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(pattern_memory);
  o.set_case_sensitive(case_sensitive);
  auto re = std::make_shared<const re2::RE2>("(?:" + for_re2(pattern) + ")", o);
  if (!re->ok())
    return make_error(ec::corrupt,
                      what + " " + pattern.substr(0, 200) +
                          " is not a pattern ferry can run: " + re->error().substr(0, 200));
  if (re->ProgramSize() > max_program)
    return make_error(ec::corrupt,
                      what + " " + pattern.substr(0, 200) + " is too complex for the router (" +
                          std::to_string(re->ProgramSize()) + " RE2 instructions, over " +
                          std::to_string(max_program) + ")");
  if (static_cast<size_t>(re->NumberOfCapturingGroups()) > max_groups)
    return make_error(ec::corrupt, what + " " + pattern.substr(0, 200) + " has over " +
                                       std::to_string(max_groups) + " groups");
  return std::shared_ptr<const re2::RE2>(std::move(re));
}

caf::expected<std::vector<route_condition>> parse_conditions(const json& list,
                                                             const std::string& where) {
  std::vector<route_condition> out;
  if (!list.is_array())
    return make_error(ec::corrupt, where + " is not an array");
  if (list.size() > max_conditions)
    return make_error(ec::corrupt,
                      where + " has over " + std::to_string(max_conditions) + " conditions");
  for (auto& c : list) {
    if (!c.is_object() || !c.contains("type") || !c["type"].is_string())
      return make_error(ec::corrupt, where + ": a condition without a type");
    route_condition rc;
    auto type = c["type"].get<std::string>();
    if (type == "host")
      rc.type = route_condition::kind::host;
    else if (type == "header")
      rc.type = route_condition::kind::header;
    else if (type == "cookie")
      rc.type = route_condition::kind::cookie;
    else if (type == "query")
      rc.type = route_condition::kind::query;
    else
      return make_error(ec::corrupt,
                        where + ": condition type \"" + type.substr(0, 40) + "\" is not supported");
    if (rc.type != route_condition::kind::host) {
      if (!c.contains("key") || !c["key"].is_string() || c["key"].get<std::string>().empty())
        return make_error(ec::corrupt, where + ": a " + type + " condition needs a key");
      rc.key = c["key"].get<std::string>();
      if (rc.type == route_condition::kind::header)
        rc.key = lower(rc.key);
    }
    if (c.contains("value")) {
      if (!c["value"].is_string())
        return make_error(ec::corrupt, where + ": only a string (a pattern) is supported as a " +
                                           "condition's value");
      // (a condition's value is matched whole, case and all)
      auto re = compile(c["value"].get<std::string>(), true, where + " value");
      if (!re)
        return re.error();
      rc.value = std::move(*re);
    } else if (rc.type == route_condition::kind::host) {
      return make_error(ec::corrupt, where + ": a host condition needs a value");
    }
    out.push_back(std::move(rc));
  }
  return out;
}

caf::expected<route_rule> parse_rule(const json& r, const std::string& where) {
  route_rule rule;
  for (auto key : {"middlewarePath", "middlewareRawSrc", "locale"})
    if (r.contains(key))
      return make_error(ec::corrupt, where + ": \"" + std::string(key) + "\" is not supported");
  bool case_sensitive = false;
  if (auto it = r.find("caseSensitive"); it != r.end() && it->is_boolean())
    case_sensitive = it->get<bool>();
  auto src = compile(r["src"].get<std::string>(), case_sensitive, where + " src");
  if (!src)
    return src.error();
  rule.src = std::move(*src);
  if (auto it = r.find("dest"); it != r.end()) {
    if (!it->is_string())
      return make_error(ec::corrupt, where + ": dest is not a string");
    rule.dest = it->get<std::string>();
  } else if (auto fn = r.find("function"); fn != r.end() && fn->is_string()) {
    rule.dest = "/" + fn->get<std::string>(); // (ferry's own outputs before dest)
  }
  if (auto it = r.find("headers"); it != r.end()) {
    if (!it->is_object())
      return make_error(ec::corrupt, where + ": headers is not an object");
    for (auto& [k, v] : it->items()) {
      if (!v.is_string())
        return make_error(ec::corrupt, where + ": header " + k.substr(0, 80) + " is not a string");
      if (k.empty() || !std::all_of(k.begin(), k.end(), [](unsigned char c) {
            return std::isalnum(c) ||
                   std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                       std::string_view::npos;
          }))
        return make_error(ec::corrupt,
                          where + ": \"" + k.substr(0, 80) + "\" is not a header name");
      if (framing_header(lower(k)))
        continue; // the router frames its answers itself
      rule.headers.emplace_back(k, v.get<std::string>());
    }
  }
  if (auto it = r.find("methods"); it != r.end()) {
    if (!it->is_array())
      return make_error(ec::corrupt, where + ": methods is not an array");
    for (auto& m : *it) {
      if (!m.is_string())
        return make_error(ec::corrupt, where + ": a method is not a string");
      auto name = m.get<std::string>();
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      rule.methods.push_back(std::move(name));
    }
  }
  for (auto [key, into] : {std::pair{"has", &rule.has}, std::pair{"missing", &rule.missing}}) {
    if (auto it = r.find(key); it != r.end()) {
      auto conds = parse_conditions(*it, where + " " + key);
      if (!conds)
        return conds.error();
      *into = std::move(*conds);
    }
  }
  if (auto it = r.find("status"); it != r.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 200 || it->get<int64_t>() > 599)
      return make_error(ec::corrupt, where + ": status is not an HTTP status");
    rule.status = it->get<int>();
  }
  auto flag = [&](const char* key) {
    auto it = r.find(key);
    return it != r.end() && it->is_boolean() && it->get<bool>();
  };
  rule.go_on = flag("continue");
  rule.check = flag("check");
  rule.override = flag("override");
  return rule;
}

} // namespace

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto raw_k = part.substr(0, eq);
    auto raw_v = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    auto decode = [](std::string_view s) {
      std::string plus(s);
      std::replace(plus.begin(), plus.end(), '+', ' ');
      std::string out;
      return percent_decode(plus, out) ? out : plus;
    };
    out.emplace_back(decode(raw_k), decode(raw_v));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_cookies(std::string_view h) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!h.empty()) {
    auto semi = h.find(';');
    auto part = h.substr(0, semi);
    h = semi == std::string_view::npos ? std::string_view{} : h.substr(semi + 1);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      continue;
    out.emplace_back(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
  }
  return out;
}

namespace {

/// A raw query item's key, decoded.
std::string decoded_key(std::string_view item) {
  std::string key(item.substr(0, item.find('=')));
  std::replace(key.begin(), key.end(), '+', ' ');
  std::string out;
  return percent_decode(key, out) ? out : key;
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

struct bindings {
  std::vector<std::string> numbered; ///< $0 (the whole), $1...
  std::map<std::string, std::string, std::less<>> named;

  /// "$1", "$name" in text replaced (as Vercel's resolveRouteParameters:
  /// a name not bound and not a number is empty); encode: for a query.
  std::string apply(std::string_view text, bool encode) const {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '$' || i + 1 == text.size() ||
          !(std::isalpha(static_cast<unsigned char>(text[i + 1])) ||
            (text[i + 1] >= '1' && text[i + 1] <= '9'))) {
        out += text[i];
        continue;
      }
      size_t j = i + 1;
      while (j < text.size() && (std::isalpha(static_cast<unsigned char>(text[j])) ||
                                 (text[j] >= '1' && text[j] <= '9')))
        ++j;
      auto token = text.substr(i + 1, j - i - 1);
      std::string value;
      if (auto it = named.find(token); it != named.end()) {
        value = it->second;
      } else if (std::isdigit(static_cast<unsigned char>(token[0]))) {
        size_t n = 0, k = 0;
        while (k < token.size() && std::isdigit(static_cast<unsigned char>(token[k])) && n < 1000)
          n = n * 10 + static_cast<size_t>(token[k++] - '0');
        if (n < numbered.size())
          value = numbered[n];
      }
      out += encode ? percent_encode(value) : value;
      i = j - 1;
    }
    return out;
  }
};

bool is_url(std::string_view s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

route_phase next_phase(route_phase p) {
  switch (p) {
    case route_phase::none: return route_phase::filesystem;
    case route_phase::filesystem: return route_phase::rewrite;
    case route_phase::rewrite: return route_phase::resource;
    default: return route_phase::miss;
  }
}

/// One request's way through the table.
class router_run {
public:
  router_run(const route_table& t, const route_request& r,
             const std::function<bool(const std::string&)>& exists)
      : table_(t), req_(r), exists_(exists) {
    res_.path = std::string(req_.path);
    for (auto& item : split_query(req_.query))
      query_.emplace_back(item);
  }

  route_result run() {
    walk(route_phase::none);
    if (!stopped() && !res_.external && !location()) {
      res_.found = exists_(res_.path);
      if (!res_.found) {
        if (res_.status < 400)
          res_.status = 404;
        walk(route_phase::error); // the project's page for it, if it names one
        res_.found = !stopped() && !res_.external && exists_(res_.path);
      }
    }
    if (auto* loc = location(); loc && !stopped()) {
      res_.redirect = true;
      if (res_.status < 300 || res_.status > 399)
        res_.status = 307;
      // a path's captures never make it another host's: "//host" and "/\\host"
      // are one slash
      if (loc->size() > 1 && (*loc)[0] == '/' && ((*loc)[1] == '/' || (*loc)[1] == '\\')) {
        auto rest = loc->find_first_not_of("/\\");
        *loc = "/" + (rest == std::string::npos ? std::string() : loc->substr(rest));
      }
      // the request's query goes along, unless the Location has its own
      if (!req_.query.empty() && loc->find('?') == std::string::npos)
        *loc = header_safe(*loc + "?" +
                           std::string(req_.query)); // (a parser let it through: not here)
    }
    for (size_t i = 0; i < query_.size(); ++i)
      res_.query += (i ? "&" : "") + query_[i];
    return std::move(res_);
  }

private:
  enum class step { skip, next, done, jump };

  bool stopped() const { return res_.loop || res_.over_budget; }

  static std::vector<std::string> split_query(std::string_view q) {
    std::vector<std::string> out;
    while (!q.empty()) {
      auto amp = q.find('&');
      if (amp != 0)
        out.emplace_back(q.substr(0, amp));
      if (amp == std::string_view::npos)
        break;
      q = q.substr(amp + 1);
    }
    return out;
  }

  std::string* location() {
    for (auto& [k, v] : res_.headers)
      if (k == "location")
        return &v;
    return nullptr;
  }

  void walk(route_phase ph) {
    while (true) {
      if (++steps_ > max_steps) {
        res_.loop = true;
        return;
      }
      bool stopped = false;
      std::optional<route_phase> jump;
      for (auto& rule : table_.phases[static_cast<size_t>(ph)]) {
        if (clock::now() - started_ > routing_budget) {
          res_.over_budget = true;
          return;
        }
        auto s = try_rule(ph, rule, jump);
        if (s == step::done) {
          stopped = true;
          break;
        }
        if (s == step::jump)
          break;
      }
      if (jump) {
        ph = *jump;
        continue;
      }
      if (ph == route_phase::hit || res_.external || location())
        return;
      bool found = exists_(res_.path);
      if (ph == route_phase::miss && !found && res_.status < 400)
        res_.status = 404;
      if (found || ph == route_phase::miss || ph == route_phase::error)
        ph = route_phase::hit;
      else
        ph = stopped ? route_phase::miss : next_phase(ph);
    }
  }

  bool matches(const route_condition& c, bindings& b) {
    std::optional<std::string> got;
    switch (c.type) {
      case route_condition::kind::host: got = std::string(req_.host); break;
      case route_condition::kind::header:
        if (req_.header)
          if (auto v = req_.header(c.key))
            got = std::string(*v);
        break;
      case route_condition::kind::cookie:
        if (!cookies_) {
          cookies_.emplace();
          if (req_.header)
            if (auto v = req_.header("cookie"))
              *cookies_ = parse_cookies(*v);
        }
        for (auto& [k, val] : *cookies_)
          if (k == c.key) {
            got = val;
            break;
          }
        break;
      case route_condition::kind::query:
        if (!params_)
          params_ = parse_query(req_.query);
        for (auto& [k, val] : *params_)
          if (k == c.key) {
            got = val;
            break;
          }
        break;
    }
    if (!got)
      return false;
    if (!c.value) {
      if (!c.key.empty())
        b.named[c.key] = *got;
      return true;
    }
    if (got->size() > max_condition_text)
      return false;
    std::array<re2::StringPiece, max_groups + 1> m;
    int n = 1 + c.value->NumberOfCapturingGroups();
    if (!c.value->Match(*got, 0, got->size(), re2::RE2::ANCHOR_BOTH, m.data(), n))
      return false;
    for (auto& [name, index] : c.value->NamedCapturingGroups())
      b.named[name] =
          std::string(m[static_cast<size_t>(index)].data() ? m[static_cast<size_t>(index)] : "");
    if (c.type == route_condition::kind::host)
      b.named["host"] = *got;
    return true;
  }

  step try_rule(route_phase ph, const route_rule& rule, std::optional<route_phase>& jump) {
    std::array<re2::StringPiece, max_groups + 1> m;
    int n = 1 + rule.src->NumberOfCapturingGroups();
    if (!rule.src->Match(res_.path, 0, res_.path.size(), re2::RE2::ANCHOR_BOTH, m.data(), n))
      return step::skip;
    if (!rule.methods.empty() &&
        std::find(rule.methods.begin(), rule.methods.end(), req_.method) == rule.methods.end())
      return step::skip;
    bindings b;
    for (int i = 0; i < n; ++i)
      b.numbered.emplace_back(m[static_cast<size_t>(i)].data() ? m[static_cast<size_t>(i)] : "");
    for (auto& [name, index] : rule.src->NamedCapturingGroups())
      b.named[name] = b.numbered[static_cast<size_t>(index)];
    for (auto& c : rule.has)
      if (!matches(c, b))
        return step::skip;
    for (auto& c : rule.missing) {
      bindings ignored;
      if (matches(c, ignored))
        return step::skip;
    }
    // an error page's route answers its own status only
    if (ph == route_phase::error && rule.status != res_.status)
      return step::skip;
    if (rule.override) {
      res_.headers.clear();
      res_.status = 0;
    }
    for (auto& [k, v] : rule.headers) {
      auto key = lower(k);
      // (what a Location takes from the path is encoded again: it was decoded)
      auto value = header_safe(b.apply(v, key == "location"));
      auto it = std::find_if(res_.headers.begin(), res_.headers.end(),
                             [&](auto& h) { return h.first == key; });
      if (it == res_.headers.end())
        res_.headers.emplace_back(std::move(key), std::move(value));
      else if (ph != route_phase::hit && ph != route_phase::miss) // (those do not override)
        it->second = std::move(value);
    }
    if (rule.status)
      res_.status = rule.status;
    if (!rule.dest.empty()) {
      auto before = res_.path;
      apply_dest(rule.dest, b);
      if (rule.check && !res_.external) {
        if (res_.path == before) {
          if (ph != route_phase::miss) {
            jump = next_phase(ph);
            return step::jump;
          }
          res_.status = 404;
        } else if (!exists_(res_.path)) {
          return step::next; // the routes after it may find one
        }
      }
    }
    return rule.go_on ? step::next : step::done;
  }

  void apply_dest(const std::string& dest, const bindings& b) {
    auto q = dest.find('?');
    auto path = b.apply(std::string_view(dest).substr(0, q), false);
    if (is_url(path)) {
      res_.external = true;
      res_.path = path;
      return;
    }
    if (path.empty() || path[0] != '/')
      path.insert(0, "/");
    res_.path = std::move(path);
    if (q == std::string::npos)
      return;
    // the destination's parameters win over the request's of the same name
    auto added = split_query(b.apply(std::string_view(dest).substr(q + 1), true));
    for (auto& item : added) { // (compared decoded: "%69d" is "id")
      auto key = decoded_key(item);
      query_.erase(std::remove_if(query_.begin(), query_.end(),
                                  [&](const std::string& it) { return decoded_key(it) == key; }),
                   query_.end());
    }
    query_.insert(query_.end(), added.begin(), added.end());
  }

  const route_table& table_;
  const route_request& req_;
  const std::function<bool(const std::string&)>& exists_;
  route_result res_;
  std::vector<std::string> query_; ///< raw items
  int steps_ = 0;
  std::optional<std::vector<std::pair<std::string, std::string>>> cookies_, params_;
  using clock = std::chrono::steady_clock;
  clock::time_point started_ = clock::now();
};

} // namespace

bool route_table::empty() const {
  return std::all_of(phases.begin(), phases.end(), [](auto& p) { return p.empty(); });
}

caf::expected<route_table> parse_routes(const json& routes) {
  route_table t;
  if (!routes.is_array())
    return make_error(ec::corrupt, "routes is not an array");
  static const std::map<std::string, route_phase, std::less<>> handles{
      {"filesystem", route_phase::filesystem},
      {"rewrite", route_phase::rewrite},
      {"resource", route_phase::resource},
      {"miss", route_phase::miss},
      {"hit", route_phase::hit},
      {"error", route_phase::error}};
  auto phase = route_phase::none;
  size_t i = 0;
  for (auto& r : routes) {
    auto where = "route " + std::to_string(i++);
    if (!r.is_object())
      return make_error(ec::corrupt, where + " is not an object");
    if (auto h = r.find("handle"); h != r.end()) {
      auto it = h->is_string() ? handles.find(h->get<std::string>()) : handles.end();
      if (it == handles.end())
        return make_error(ec::corrupt, where + ": unknown handle " + h->dump().substr(0, 40));
      phase = it->second;
      continue;
    }
    if (!r.contains("src") || !r["src"].is_string())
      return make_error(ec::corrupt, where + " has neither src nor handle");
    if (t.rules++ == max_rules)
      return make_error(ec::corrupt,
                        "config.json has over " + std::to_string(max_rules) + " routes");
    auto rule = parse_rule(r, where);
    if (!rule)
      return rule.error();
    t.program += rule->src->ProgramSize();
    for (auto* conds : {&rule->has, &rule->missing})
      for (auto& c : *conds)
        if (c.value)
          t.program += c.value->ProgramSize();
    if (t.program > max_table_program)
      return make_error(ec::corrupt, "config.json's route patterns are over " +
                                         std::to_string(max_table_program) +
                                         " RE2 instructions in all");
    t.phases[static_cast<size_t>(phase)].push_back(std::move(*rule));
  }
  return t;
}

route_result route_request_through(const route_table& table, const route_request& req,
                                   const std::function<bool(const std::string&)>& exists) {
  return router_run(table, req, exists).run();
}

caf::expected<std::shared_ptr<const re2::RE2>> compile_path_pattern(const std::string& pattern,
                                                                    const std::string& what) {
  return compile(pattern, false, what); // (case-insensitive, as a route's src is by default)
}

bool matches_whole(const re2::RE2& re, std::string_view text) {
  return re2::RE2::FullMatch(re2::StringPiece(text.data(), text.size()), re);
}

} // namespace ferry::runtime
