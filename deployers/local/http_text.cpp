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
  for (auto& f : forms)
    for (size_t at = text.find(f); at != std::string::npos; at = text.find(f, at))
      text.replace(at, f.size(), "[secret]");
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
