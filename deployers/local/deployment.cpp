// A built deployment as the router serves it: exported once from the store,
// its static files, functions and routes read from its output.
#include "deployers/local/runtime.hpp"

#include "actors/host_names.hpp"

#include "deployers/local/http_text.hpp"
#include "deployers/local/process.hpp"
#include "messages/errors.hpp"
#include "messages/json_text.hpp"
#include "storage/beneath.hpp"
#include "storage/dir_io.hpp"
#include "storage/tree.hpp"

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace ferry::runtime {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr size_t max_config = 8 << 20; ///< config.json

std::string content_type_of(const std::string& path) {
  static const std::map<std::string, std::string> types{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".wasm", "application/wasm"},
      {".xml", "application/xml"},
      {".pdf", "application/pdf"},
      {".map", "application/json"},
  };
  auto ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  auto it = types.find(ext);
  return it == types.end() ? "application/octet-stream" : it->second;
}

/// The files under the top-level directory `prefix` of a stored tree, with
/// their hashes (none if it has no such directory).
caf::error list_files(blob_store& store, const std::string& root, const std::string& prefix,
                      std::vector<std::pair<std::string, std::string>>& out) {
  std::vector<tree_entry> entries;
  auto top = store.get(blob_ref{static_cast<uint8_t>(blob_ns::output_tree), root});
  if (!top)
    return top.error();
  if (auto why = parse_tree(*top, entries); !why.empty())
    return make_error(ec::corrupt, why);
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const tree_entry& e) { return e.name == prefix; });
  if (it == entries.end() || it->kind != entry_kind::dir)
    return {};
  auto hash = it->ref;
  std::deque<std::pair<std::string, std::string>> todo{{"", hash}};
  while (!todo.empty()) {
    auto [path, node] = todo.front();
    todo.pop_front();
    auto bytes = store.get(blob_ref{static_cast<uint8_t>(blob_ns::output_tree), node});
    if (!bytes)
      return bytes.error();
    if (auto why = parse_tree(*bytes, entries); !why.empty())
      return make_error(ec::corrupt, why);
    for (auto& e : entries) {
      auto sub = path + "/" + e.name;
      if (e.kind == entry_kind::dir)
        todo.emplace_back(sub, e.ref);
      else if (e.kind != entry_kind::link)
        out.emplace_back(sub, e.ref);
    }
  }
  return {};
}

/// A header name: a token; a value: no control bytes.
bool header_safe(const std::string& name, const std::string& value) {
  auto token = [](unsigned char c) {
    return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  };
  return !name.empty() && name.size() <= 256 && value.size() <= 8192 &&
         std::all_of(name.begin(), name.end(), token) &&
         std::none_of(value.begin(), value.end(),
                      [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
}

constexpr size_t max_fallback = 8 << 20; ///< a prerender function's fallback page
/// The fallback pages a deployment holds in memory, together (each once,
/// however many functions name it); past it a function has none.
constexpr size_t max_fallbacks = 8 << 20;

/// The fallback pages read so far for a deployment, by path.
struct fallback_pages {
  std::map<std::string, std::shared_ptr<const std::string>> by_path;
  size_t bytes = 0;
};

/// NAME.prerender-config.json, as far as it is well formed (a build's output
/// is untrusted: what is malformed is left out, and without "expiration" it
/// is no prerender function). read(rel, limit) reads a file of the output.
using read_fn = std::function<bool(const std::string& rel, std::string& text, size_t limit)>;
std::shared_ptr<const prerender_config> prerender_of(const std::string& name, const read_fn& read,
                                                     fallback_pages& pages) {
  std::string text;
  if (!read("functions/" + name + ".prerender-config.json", text, 1 << 20))
    return nullptr;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("expiration"))
    return nullptr;
  auto p = std::make_shared<prerender_config>();
  auto& e = j["expiration"];
  if (e.is_number() && e.get<double>() > 0)
    p->expiration_s = static_cast<int64_t>(std::clamp(e.get<double>(), 1.0, 31536000.0));
  else if (!e.is_boolean() || e.get<bool>())
    return nullptr; // (a number, or false: never)
  if (auto t = j.find("bypassToken"); t != j.end() && t->is_string() &&
                                      t->get<std::string>().size() >= 32 &&
                                      t->get<std::string>().size() <= 1024)
    p->bypass_token = t->get<std::string>();
  if (auto q = j.find("allowQuery"); q != j.end() && q->is_array() && q->size() <= 64) {
    p->allow_query.emplace();
    for (auto& k : *q)
      if (k.is_string() && k.get<std::string>().size() <= 256)
        p->allow_query->push_back(k.get<std::string>());
  }
  if (auto q = j.find("passQuery"); q != j.end() && q->is_boolean())
    p->pass_query = q->get<bool>();
  if (auto st = j.find("initialStatus"); st != j.end() && st->is_number_unsigned()) {
    auto status = st->get<unsigned>();
    if (status >= 200 && status < 600 && status != 204 && status != 205 && status != 304)
      p->initial_status = status; // (a page has a body)
  }
  if (auto h = j.find("initialHeaders"); h != j.end() && h->is_object() && h->size() <= 64)
    for (auto& [k, v] : h->items())
      if (v.is_string() && header_safe(k, v.get<std::string>()))
        p->initial_headers.emplace_back(k, v.get<std::string>());
  // the fallback: a file next to the config ("x.html", or the older
  // {"type": "FileFsRef", "fsPath": "x.html"})
  std::string fallback;
  if (auto f = j.find("fallback"); f != j.end()) {
    if (f->is_string())
      fallback = f->get<std::string>();
    else if (f->is_object() && f->contains("fsPath") && (*f)["fsPath"].is_string())
      fallback = (*f)["fsPath"].get<std::string>();
  }
  auto dir = fs::path(name).parent_path().string();
  auto rel = "functions/" + (dir.empty() ? "" : dir + "/") + fallback;
  if (fallback.empty() || fallback.find("..") != std::string::npos || fallback[0] == '/')
    return p;
  if (auto known = pages.by_path.find(rel); known != pages.by_path.end()) {
    p->fallback = known->second;
  } else {
    std::string page;
    if (pages.bytes < max_fallbacks &&
        read(rel, page, std::min(max_fallback, max_fallbacks - pages.bytes))) {
      pages.bytes += page.size();
      p->fallback = pages.by_path[rel] = std::make_shared<const std::string>(std::move(page));
    }
  }
  if (p->fallback)
    p->fallback_type = content_type_of(fallback);
  return p;
}

} // namespace

const static_file* deployment::find_static(const std::string& path) const {
  auto it = statics.find(path);
  if (it != statics.end())
    return &it->second;
  auto base = path.empty() || path.back() != '/' ? path + "/" : path;
  it = statics.find(base + "index.html");
  if (it != statics.end())
    return &it->second;
  if (path.size() > 1) { // "/a" and "/a/": a.html
    it = statics.find((path.back() == '/' ? path.substr(0, path.size() - 1) : path) + ".html");
    if (it != statics.end())
      return &it->second;
  }
  return nullptr;
}

const function_config* deployment::function_at(const std::string& path) const {
  if (path.empty() || path[0] != '/')
    return nullptr;
  auto name = path.substr(1);
  if (name.empty() || name.back() == '/')
    name += "index";
  auto it = functions.find(name);
  if (it == functions.end() && !name.ends_with("index"))
    it = functions.find(name + "/index"); // a folder's index at the folder's path
  return it == functions.end() || it->second.hidden ? nullptr : &it->second;
}

std::pair<const static_file*, const function_config*> deployment::target_of(
    const std::string& path) const {
  if (auto it = statics.find(path); it != statics.end())
    return {&it->second, nullptr};
  if (!path.empty() && path.back() == '/')
    if (auto it = statics.find(path + "index.html"); it != statics.end())
      return {&it->second, nullptr};
  if (auto* fn = function_at(path))
    return {nullptr, fn};
  return {find_static(path), nullptr};
}

caf::expected<std::shared_ptr<const deployment>> load_deployment(blob_store& store,
                                                                 const deployment_ref& ref,
                                                                 const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    uint8_t raw[6];
    RAND_bytes(raw, sizeof raw);
    std::string tmp = dir + ".tmp";
    for (auto b : raw)
      tmp += "0123456789abcdef"[b & 15];
    if (auto err =
            export_tree(store, ref.artifact, static_cast<uint8_t>(blob_ns::output_tree), tmp)) {
      fs::remove_all(tmp, ec);
      return err;
    }
    if (::rename(tmp.c_str(), dir.c_str()) != 0)
      fs::remove_all(tmp, ec); // another thread placed it first
  }
  auto d = std::make_shared<deployment>();
  d->id = ref.id;
  d->project = ref.project;
  d->owner = ref.owner.empty() ? ref.project : ref.owner;
  d->target = ref.target;
  d->dir = dir;
  {
    timespec ts{}; // (the router's clock: steady_ms)
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    d->loaded_ms = int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
  }
  std::vector<std::pair<std::string, std::string>> files;
  if (auto err = list_files(store, ref.artifact, "static", files))
    return err;
  for (auto& [path, hash] : files) {
    auto disk = dir + "/static" + path;
    d->statics[path] = static_file{disk, static_cast<uint64_t>(fs::file_size(disk, ec)),
                                   "\"" + hash + "\"", content_type_of(path)};
  }
  // its own files are read beneath it: links resolve inside, or not at all
  unique_fd root{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (!root)
    return make_error(ec::storage_error, "open deployment " + ref.id + ": " + std::strerror(errno));
  auto read_json = [&](const std::string& rel, size_t limit = 1 << 20) {
    std::string text;
    if (!read_beneath(root.fd, rel, text, limit, links::inside))
      return json(nullptr);
    return json::parse(text, nullptr, false);
  };
  auto fn_root = fs::path(dir) / "functions";
  fallback_pages pages;
  if (fs::is_directory(fn_root, ec)) {
    for (auto it = fs::recursive_directory_iterator(fn_root, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (!it->is_directory() || it->path().extension() != ".func")
        continue;
      it.disable_recursion_pending();
      auto rel = fs::relative(it->path(), fn_root).string();
      function_config f;
      f.name = rel.substr(0, rel.size() - 5);
      f.dir = it->path().string();
      auto vc = read_json("functions/" + rel + "/.vc-config.json");
      if (!vc.is_object() || !vc.contains("handler") || !vc["handler"].is_string())
        return make_error(ec::corrupt, "function " + f.name + " has no .vc-config.json handler");
      f.handler = vc["handler"].get<std::string>();
      // (a build's output is untrusted: a field of another type is ignored)
      auto helpers = vc.find("shouldAddHelpers");
      f.helpers = helpers == vc.end() || !helpers->is_boolean() || helpers->get<bool>();
      if (vc.contains("memory") && vc["memory"].is_number_unsigned())
        f.memory_mb = std::clamp<uint64_t>(vc["memory"].get<uint64_t>(), 64, 4096);
      if (vc.contains("maxDuration") && vc["maxDuration"].is_number())
        f.max_duration_s =
            static_cast<int>(std::clamp(vc["maxDuration"].get<double>(), 1.0, 900.0));
      f.prerender = prerender_of(
          f.name,
          [&](const std::string& rel, std::string& text, size_t limit) {
            return read_beneath(root.fd, rel, text, limit, links::inside);
          },
          pages);
      d->functions[f.name] = f;
    }
  }
  // (its routes are the site's redirects and security headers: one that
  // cannot be read fails the load, never serves the site without them)
  auto config =
      fs::exists(dir + "/config.json", ec) ? read_json("config.json", max_config) : json::object();
  if (!config.is_object())
    return make_error(ec::corrupt, "config.json of deployment " + ref.id +
                                       " is not a JSON object of at most 8 MiB");
  // Routing Middleware: the first route, {src, middlewarePath, continue}
  // (builders/middleware.js); the router calls it before the others
  if (auto r = config.find("routes"); r != config.end() && r->is_array() && !r->empty()) {
    auto& first = (*r)[0];
    if (first.is_object() && first.contains("middlewarePath")) {
      auto fn = first["middlewarePath"];
      // its matchers ({src, not}: builders/middleware.js), else its src
      auto matchers = first.value("matchers", json::array({{{"src", first.value("src", json())}}}));
      if (!fn.is_string() || !d->functions.count(fn.get<std::string>()) || !matchers.is_array() ||
          matchers.empty() || matchers.size() > 64)
        return make_error(ec::corrupt,
                          "config.json: its middleware route names no function of "
                          "the deployment, or no src (or over 64 matchers)");
      for (auto& m : matchers) {
        auto src = m.is_object() ? m.value("src", json()) : json();
        auto no = m.is_object() ? m.value("not", json()) : json();
        if (!src.is_string() || !(no.is_null() || no.is_string()))
          return make_error(ec::corrupt, "config.json: a middleware matcher is {src, not}");
        auto re = compile_path_pattern(src.get<std::string>(), "config.json: the middleware's src");
        if (!re)
          return re.error();
        std::shared_ptr<const re2::RE2> except;
        if (no.is_string()) {
          auto x = compile_path_pattern(no.get<std::string>(), "config.json: the middleware's not");
          if (!x)
            return x.error();
          except = std::move(*x);
        }
        d->middleware_matchers.emplace_back(std::move(*re), std::move(except));
      }
      d->middleware_fn = fn.get<std::string>();
      d->functions[d->middleware_fn].hidden = true; // (never asked for by a path)
      r->erase(r->begin());
    }
    for (auto& route : *r)
      if (route.is_object() && route.contains("middlewarePath"))
        return make_error(ec::corrupt,
                          "config.json: middlewarePath is taken in the first route only");
  }
  if (config.contains("routes")) {
    auto table = parse_routes(config["routes"]);
    if (!table)
      return make_error(ec::corrupt, "config.json: " + reason_of(table.error()));
    d->routing = std::move(*table);
  }
  // overrides: a static file served at another path, or as another type
  if (config.contains("overrides") && config["overrides"].is_object()) {
    for (auto& [file, o] : config["overrides"].items()) {
      auto it = d->statics.find("/" + file);
      if (it == d->statics.end() || !o.is_object())
        continue;
      auto f = it->second;
      if (auto ct = o.find("contentType"); ct != o.end() && ct->is_string())
        f.content_type = ct->get<std::string>();
      if (std::any_of(f.content_type.begin(), f.content_type.end(),
                      [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
        f.content_type = "application/octet-stream";
      if (auto p = o.find("path"); p != o.end() && p->is_string()) {
        d->statics.erase(it);
        d->statics["/" + p->get<std::string>()] = f;
      } else {
        it->second = f;
      }
    }
  }
  return std::shared_ptr<const deployment>(std::move(d));
}

} // namespace ferry::runtime
