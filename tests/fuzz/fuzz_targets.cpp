#include "tests/fuzz/fuzz_targets.hpp"

#include "actors/cluster_config.hpp"
#include "actors/host_names.hpp"
#include "actors/http_routes.hpp"
#include "deployers/local/http_text.hpp"
#include "deployers/local/routing.hpp"
#include "sandbox/build_runner.hpp"
#include "sandbox/egress.hpp"
#include "storage/blob_store.hpp"
#include "storage/tree.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>

namespace ferry::fuzz {

namespace {
void require(bool ok) {
  if (!ok)
    std::abort();
}
} // namespace

int tree_node(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<tree_entry> entries;
  if (parse_tree(in, entries).empty())
    require(encode_tree(entries) == in); // only the canonical form is accepted
  return 0;
}

int blob_pack(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<blob_view> views;
  std::vector<std::string> hashes;
  bool truncated = false;
  if (parse_blob_pack(in, views, hashes, truncated).empty()) {
    require(!views.empty());
    for (auto& v : views)
      require(v.data.data() >= in.data() && v.data.data() + v.data.size() <= in.data() + in.size());
  }
  return 0;
}

int manifest(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto type = (data[0] & 1) ? "application/x-ferry-manifest" : "application/json";
  std::vector<flat_entry> entries;
  if (parse_manifest_body(type, body, entries).empty()) {
    built_tree tree;
    if (!build_tree(entries, tree))
      require(!tree.root.empty() && tree.nodes.back().path.empty());
  }
  return 0;
}

int cluster_config(const uint8_t* data, size_t size) {
  auto c = parse_cluster_config(std::string(reinterpret_cast<const char*>(data), size));
  if (c)
    require(!c->nodes.empty());
  return 0;
}

int router_text(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out;
  if (runtime::percent_decode(in, out))
    require(out.size() <= in.size() && out.find('\0') == std::string::npos);
  // an escaped string is always valid JSON (strict UTF-8) ...
  std::string text = "\"";
  runtime::json_escape(text, in);
  text += '"';
  auto j = nlohmann::json::parse(text, nullptr, false);
  require(j.is_string());
  // ... and gives back the input whenever the input was UTF-8
  bool utf8 = true;
  for (size_t i = 0; i < in.size() && utf8;) {
    auto n = runtime::utf8_length(in.substr(i));
    utf8 = n > 0;
    i += n;
  }
  if (utf8)
    require(j.get<std::string>() == in);
  return 0;
}

int proxy_request(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  sandbox::proxy_request req;
  if (!sandbox::parse_proxy_request(in, req).empty())
    return 0;
  require(!req.host.empty() && req.port > 0);
  for (char c : req.host) // a name or an address, nothing that could end a line
    require(c != '\r' && c != '\n' && c != ' ' && c != '@' && c != '/');
  if (!req.connect) {
    // the head sent upstream: origin form, closing, every line ended by CRLF
    require(req.head.rfind(req.method + " /", 0) == 0);
    require(req.head.size() >= 4 && req.head.substr(req.head.size() - 4) == "\r\n\r\n");
    require(req.head.find("Connection: close\r\n") != std::string::npos);
    for (size_t i = 0; i < req.head.size(); ++i)
      if (req.head[i] == '\n')
        require(i > 0 && req.head[i - 1] == '\r');
  }
  return 0;
}

int client_hello(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto h = sandbox::read_client_hello(in);
  if (h.kind == sandbox::client_hello::tls)
    for (char c : h.sni) // a name: nothing that could pass for another
      require(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.');
  return 0;
}

int npmrc(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> dropped;
  auto kept = sandbox::filter_npmrc(in, dropped);
  for (char c : kept) // one setting a line, nothing else
    require(c == '\n' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
  std::vector<std::string> again;
  require(sandbox::filter_npmrc(kept, again) == kept && again.empty()); // kept is all kept
  return 0;
}

int cookie(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  // the first byte splits the input into a host and a Set-Cookie value
  size_t cut = data[0] % size;
  std::string_view host(reinterpret_cast<const char*>(data) + 1, cut > 0 ? cut - 1 : 0);
  std::string_view value(reinterpret_cast<const char*>(data) + cut, size - cut);
  bool changed = false;
  auto out = runtime::scope_cookie(value, host, changed);
  require(out.size() <= value.size());
  require(changed == (out.size() != value.size()));
  bool again = true;
  require(runtime::scope_cookie(out, host, again) == out && !again);
  return 0;
}

int secret_mask(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  size_t cut = data[0] % size;
  std::string secret(reinterpret_cast<const char*>(data) + 1, cut > 0 ? cut - 1 : 0);
  std::string text(reinterpret_cast<const char*>(data) + cut, size - cut);
  auto forms = runtime::secret_forms(secret);
  require(!forms.empty() && forms.front() == secret);
  if (secret.size() < 4 || secret.find_first_of("[]secrt") != std::string::npos)
    return 0; // (the mask itself could spell it)
  auto line = text + secret + text;
  runtime::mask(line, forms);
  for (auto& f : forms)
    require(line.find(f) == std::string::npos);
  return 0;
}

int host_names(const uint8_t* data, size_t size) {
  std::string host(reinterpret_cast<const char*>(data), size);
  const std::string domain = "ferry.localhost", project = "site";
  auto assigned = [](const std::string& name) -> std::optional<std::string> {
    if (name == "example.com")
      return std::string("site");
    if (name == "other.example")
      return std::string("other");
    return std::nullopt;
  };
  if (check_alias_host(host, project, domain, assigned).empty()) {
    require(check_host_name(host).empty());
    require(host != domain && !is_ip_address(host) && host != "localhost");
    auto below = [&](const std::string& parent) {
      return host.size() > parent.size() &&
             host.compare(host.size() - parent.size() - 1, parent.size() + 1, "." + parent) == 0;
    };
    require(below("site." + domain) || host == "example.com" || below("example.com"));
  }
  if (check_project_name(host).empty())
    require(!looks_like_deployment_label(host) && host.find('.') == std::string::npos);
  return 0;
}

int lockfile(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto why = sandbox::git_dependency(in);
  // nothing found: it was JSON, and reading it again says the same
  if (why.empty())
    require(nlohmann::json::accept(in));
  require(sandbox::git_dependency(in) == why);
  return 0;
}

int masker(const uint8_t* data, size_t size) {
  // forms separated by 0xff, then 0xfe, then the text
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cut = in.find('\xfe');
  if (cut == std::string_view::npos)
    return 0;
  std::vector<std::string> forms;
  for (size_t from = 0; from <= cut;) {
    auto end = std::min(in.find('\xff', from), cut);
    if (end > from)
      forms.emplace_back(in.substr(from, end - from));
    from = end + 1;
  }
  std::string text(in.substr(cut + 1));
  runtime::masker m(forms);
  // the longest end of the text that begins a form, as a plain search finds it
  size_t tail = 0;
  for (auto& f : forms)
    for (size_t n = std::min(f.size(), text.size()); n > tail; --n)
      if (text.compare(text.size() - n, n, f, 0, n) == 0) {
        tail = n;
        break;
      }
  require(m.open_tail(text) == tail);
  // every occurrence is covered: no form is left whole, unless "[secret]"
  // itself could spell it
  bool spells = false;
  for (auto& f : forms)
    spells = spells || f.find_first_of("[]secrt") != std::string::npos;
  auto masked = text;
  m.mask(masked);
  if (!spells)
    for (auto& f : forms)
      require(masked.find(f) == std::string::npos);
  return 0;
}

int routes(const uint8_t* data, size_t size) {
  // config.json's routes, 0xff, then the request: method, path, query and
  // header lines ("name: value"), one a line
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cut = in.find('\xff');
  if (cut == std::string_view::npos)
    return 0;
  auto doc = nlohmann::json::parse(in.substr(0, cut), nullptr, false);
  if (doc.is_discarded())
    return 0;
  auto table = runtime::parse_routes(doc);
  if (!table)
    return 0;
  std::vector<std::string> lines;
  for (auto rest = in.substr(cut + 1); !rest.empty();) {
    auto nl = rest.find('\n');
    lines.emplace_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  }
  lines.resize(std::max<size_t>(lines.size(), 3));
  if (lines[1].empty() || lines[1][0] != '/')
    lines[1] = "/" + lines[1];
  runtime::route_request req{lines[0], lines[1], lines[2], "site.example",
                             [&lines](std::string_view name) -> std::optional<std::string_view> {
                               for (size_t i = 3; i < lines.size(); ++i)
                                 if (lines[i].size() > name.size() + 1 &&
                                     lines[i].compare(0, name.size(), name) == 0 &&
                                     lines[i][name.size()] == ':')
                                   return std::string_view(lines[i]).substr(name.size() + 1);
                               return std::nullopt;
                             }};
  // a third of the paths there are
  auto exists = [](const std::string& p) { return std::hash<std::string>{}(p) % 3 == 0; };
  auto r = runtime::route_request_through(*table, req, exists);
  require(!r.loop); // (phases only go forward: no table makes it go round)
  require(!r.found || exists(r.path));
  require(!r.redirect || (r.status >= 300 && r.status < 400));
  for (auto& [name, value] : r.headers) {
    require(!name.empty());
    for (unsigned char c : name)
      require(!std::isupper(c));
    for (unsigned char c : value)
      require(c >= 0x20 && c != 0x7f); // no header ever splits the answer
  }
  return 0;
}

} // namespace ferry::fuzz
