#include "deployers/local/http_text.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_set>

namespace ferry::runtime {

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\0')
      return false;
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

size_t utf8_length(std::string_view s) {
  if (s.empty())
    return 0;
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  unsigned c = b(0);
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2) || (c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F))
      return 0; // overlong, or a surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3) || (c == 0xF0 && b(1) < 0x90) ||
        (c == 0xF4 && b(1) > 0x8F))
      return 0;
    return 4;
  }
  return 0;
}

void json_escape(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
      out += '\\'; // as JSON.stringify and json_text write them
      out += "bfnrt"[std::string_view("\b\f\n\r\t").find(c)];
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\u00";
      out += hex[(c >> 4) & 15];
      out += hex[c & 15];
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      auto n = utf8_length(s.substr(i));
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    } else {
      out += c;
    }
    ++i;
  }
}

namespace {

/// As util.inspect writes a string in an object (console.log(config)),
/// without its quotes: '\\', controls and C1 controls as \xNN (\n, \t...),
/// and a quote escaped only when all three kinds are in it (with_quote).
std::string inspect_form(std::string_view value, bool with_quote) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    auto x = [&](unsigned v) {
      out += "\\x";
      out += hex[v >> 4];
      out += hex[v & 15];
    };
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      case '\'': out += with_quote ? "\\'" : "'"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          x(c);
        } else if (c == 0xC2 && i + 1 < value.size() &&
                   static_cast<unsigned char>(value[i + 1]) >= 0x80 &&
                   static_cast<unsigned char>(value[i + 1]) <= 0x9F) {
          x(static_cast<unsigned char>(value[++i])); // U+0080..U+009F
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

} // namespace

std::vector<std::string> secret_forms(std::string_view value) {
  static const char upper[] = "0123456789ABCDEF", lower[] = "0123456789abcdef";
  // the ways a function prints it...
  std::vector<std::string> printed{std::string(value)};
  std::unordered_set<std::string> seen{std::string(value)}; // (linear in all: many lines)
  auto add = [&seen](std::vector<std::string>& to, std::string form) {
    if (!form.empty() && seen.insert(form).second)
      to.push_back(std::move(form));
  };
  std::string json;
  json_escape(json, value);
  add(printed, json); // JSON.stringify
  add(printed, inspect_form(value, false));
  add(printed, inspect_form(value, true));
  for (auto* hex : {upper, lower}) {
    std::string uri, form;
    for (char ch : value) {
      auto c = static_cast<unsigned char>(ch);
      bool alnum = std::isalnum(c) != 0;
      std::string escaped = {'%', hex[c >> 4], hex[c & 15]};
      bool plain_uri = alnum || (c && std::strchr("-_.!~*'()", c));
      bool plain_form = alnum || (c && std::strchr("-_.*", c));
      uri += plain_uri ? std::string(1, ch) : escaped;
      form += plain_form ? std::string(1, ch) : c == ' ' ? "+" : escaped;
    }
    add(printed, uri);
    add(printed, form);
  }
  // ...and each as a log line holds it: a line of text is a JSON string there
  auto out = printed;
  for (auto& p : printed) {
    std::string in_log;
    json_escape(in_log, p);
    add(out, std::move(in_log));
  }
  // a value of many lines (a PEM key) may be printed a line at a time
  // (util.inspect splits a long string at its newlines): each line of 8+
  // characters is a secret too
  if (value.find('\n') != std::string_view::npos)
    for (size_t from = 0; from <= value.size();) {
      auto end = std::min(value.find('\n', from), value.size());
      auto piece = value.substr(from, end - from);
      if (!piece.empty() && piece.back() == '\r')
        piece.remove_suffix(1);
      if (piece.size() >= 8 && piece.size() < value.size())
        for (auto& f : secret_forms(piece))
          add(out, std::move(f));
      from = end + 1;
    }
  return out;
}

void mask(std::string& text, const std::vector<std::string>& forms) {
  masker(forms).mask(text);
}

masker::masker(const std::vector<std::string>& forms) {
  // a trie of the forms, built with linked siblings (no allocation per
  // node), then laid out with each node's edges together, by byte
  struct draft {
    uint32_t first = 0, sibling = 0; ///< 0: none (the root is no one's child)
    unsigned char byte = 0;
  };
  std::vector<draft> drafts(1);
  for (auto& f : forms) {
    if (f.empty())
      continue;
    uint32_t state = 0;
    for (unsigned char c : f) {
      // siblings kept in byte order: prev is the one before c's place
      uint32_t prev = 0, next = drafts[state].first;
      while (next && drafts[next].byte < c)
        prev = next, next = drafts[next].sibling;
      if (next && drafts[next].byte == c) {
        state = next;
        continue;
      }
      auto id = static_cast<uint32_t>(drafts.size());
      drafts.push_back(draft{0, next, c});
      (prev ? drafts[prev].sibling : drafts[state].first) = id;
      nodes_.emplace_back();
      nodes_[id].depth = nodes_[state].depth + 1;
      state = id;
    }
    nodes_[state].longest = std::max(nodes_[state].longest, static_cast<uint32_t>(f.size()));
  }
  edges_.reserve(drafts.size() - 1);
  for (uint32_t v = 0; v < drafts.size(); ++v) {
    nodes_[v].first_edge = static_cast<uint32_t>(edges_.size());
    for (auto c = drafts[v].first; c; c = drafts[c].sibling)
      edges_.push_back({drafts[c].byte, c});
    nodes_[v].edges = static_cast<uint32_t>(edges_.size()) - nodes_[v].first_edge;
  }
  drafts = {};
  // failure links, breadth first
  std::vector<uint32_t> queue;
  for (uint32_t e = 0; e < nodes_[0].edges; ++e)
    queue.push_back(edges_[e].second);
  for (size_t k = 0; k < queue.size(); ++k) {
    auto v = queue[k];
    for (uint32_t e = nodes_[v].first_edge; e < nodes_[v].first_edge + nodes_[v].edges; ++e) {
      auto [c, n] = edges_[e];
      uint32_t f = nodes_[v].fail;
      while (f && !child(f, c))
        f = nodes_[f].fail;
      auto target = child(f, c);
      nodes_[n].fail = target != n ? target : 0;
      nodes_[n].longest = std::max(nodes_[n].longest, nodes_[nodes_[n].fail].longest);
      queue.push_back(n);
    }
  }
}

uint32_t masker::child(uint32_t state, unsigned char c) const {
  auto begin = edges_.begin() + nodes_[state].first_edge;
  auto end = begin + nodes_[state].edges;
  auto it = std::lower_bound(begin, end, c, [](auto& e, unsigned char b) { return e.first < b; });
  return it != end && it->first == c ? it->second : 0;
}

size_t masker::open_tail(std::string_view text) const {
  uint32_t state = 0;
  for (unsigned char c : text) {
    uint32_t next = child(state, c);
    while (!next && state) {
      state = nodes_[state].fail;
      next = child(state, c);
    }
    state = next;
  }
  return nodes_[state].depth;
}

void masker::mask(std::string& text) const {
  if (empty())
    return;
  // the covered runs: [start, end) of every form found, merged
  std::vector<std::pair<size_t, size_t>> runs;
  uint32_t state = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    uint32_t next = child(state, c);
    while (!next && state) {
      state = nodes_[state].fail;
      next = child(state, c);
    }
    state = next;
    if (auto len = nodes_[state].longest) {
      size_t start = i + 1 - len;
      if (!runs.empty() && start <= runs.back().second)
        runs.back().first = std::min(runs.back().first, start), runs.back().second = i + 1;
      else
        runs.emplace_back(start, i + 1);
    }
  }
  if (runs.empty())
    return;
  // (a later match may start before an earlier run: merge once more)
  std::sort(runs.begin(), runs.end());
  std::vector<std::pair<size_t, size_t>> merged;
  for (auto& r : runs)
    if (!merged.empty() && r.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (auto& [start, end] : merged) {
    out.append(text, pos, start - pos);
    out += "[secret]";
    pos = end;
  }
  out.append(text, pos, std::string::npos);
  text = std::move(out);
}

std::string scope_cookie(std::string_view set_cookie, std::string_view host, bool& changed) {
  changed = false;
  std::string out;
  size_t start = 0;
  bool first = true;
  while (start <= set_cookie.size()) {
    auto end = set_cookie.find(';', start);
    auto part =
        set_cookie.substr(start, end == std::string_view::npos ? set_cookie.npos : end - start);
    start = end == std::string_view::npos ? set_cookie.size() + 1 : end + 1;
    auto trimmed = part;
    while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t'))
      trimmed.remove_prefix(1);
    auto eq = trimmed.find('=');
    if (!first && eq != std::string_view::npos) {
      std::string name;
      for (char c : trimmed.substr(0, eq))
        if (c != ' ' && c != '\t')
          name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "domain") {
        std::string d;
        for (char c : trimmed.substr(eq + 1))
          if (c != ' ' && c != '\t')
            d += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        while (!d.empty() && d.front() == '.')
          d.erase(d.begin());
        if (d != host) { // broader (a parent) or another host's: the cookie stays host-only
          changed = true;
          continue;
        }
      }
    }
    if (!first)
      out += ";";
    out.append(part);
    first = false;
  }
  return out;
}

} // namespace ferry::runtime
