#include "deployers/local/http_text.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

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

std::vector<std::string> secret_forms(std::string_view value) {
  static const char upper[] = "0123456789ABCDEF", lower[] = "0123456789abcdef";
  std::vector<std::string> out{std::string(value)};
  auto add = [&](std::string form) {
    if (!form.empty() && std::find(out.begin(), out.end(), form) == out.end())
      out.push_back(std::move(form));
  };
  std::string json;
  for (char c : value) {
    switch (c) {
      case '"': json += "\\\""; break;
      case '\\': json += "\\\\"; break;
      case '\b': json += "\\b"; break;
      case '\f': json += "\\f"; break;
      case '\n': json += "\\n"; break;
      case '\r': json += "\\r"; break;
      case '\t': json += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          json += "\\u00";
          json += lower[(c >> 4) & 15];
          json += lower[c & 15];
        } else {
          json += c;
        }
    }
  }
  add(json);
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
    add(uri);
    add(form);
  }
  return out;
}

void mask(std::string& text, const std::vector<std::string>& forms) {
  masker(forms).mask(text);
}

masker::masker(const std::vector<std::string>& forms) {
  for (auto& f : forms) { // a trie of the forms
    if (f.empty())
      continue;
    uint32_t state = 0;
    for (unsigned char c : f) {
      auto& next = nodes_[state].next;
      auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(c, uint32_t{0}),
                                 [](auto& a, auto& b) { return a.first < b.first; });
      if (it != next.end() && it->first == c) {
        state = it->second;
      } else {
        auto id = static_cast<uint32_t>(nodes_.size());
        next.insert(it, {c, id});
        nodes_.emplace_back();
        state = id;
      }
    }
    nodes_[state].longest = std::max(nodes_[state].longest, static_cast<uint32_t>(f.size()));
  }
  // failure links, breadth first
  std::vector<uint32_t> queue;
  for (auto& [c, n] : nodes_[0].next)
    queue.push_back(n);
  for (size_t k = 0; k < queue.size(); ++k) {
    auto v = queue[k];
    for (auto& [c, n] : nodes_[v].next) {
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
  auto& next = nodes_[state].next;
  auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(c, uint32_t{0}),
                             [](auto& a, auto& b) { return a.first < b.first; });
  return it != next.end() && it->first == c ? it->second : 0;
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
