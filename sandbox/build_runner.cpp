#include "sandbox/build_runner.hpp"

#include "messages/errors.hpp"
#include "sandbox/host_id.hpp"
#include "sandbox/package_manager.hpp"
#include "storage/beneath.hpp"
#include "storage/sha256.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry::sandbox {

namespace fs = std::filesystem;

namespace {

using say_fn = std::function<void(const std::string&)>;
using lines_fn = std::function<void(stream, std::string_view)>;

/// What a build shares between its steps.
struct build_ctx {
  blob_store& store;
  const build_request& req;
  const lines_fn& on_line;
  const std::atomic<bool>* cancel;
  uint32_t uid;
  unique_fd slot;
  say_fn say;
};

bool is_dir_beneath(int dirfd, std::string_view path) {
  unique_fd fd{open_beneath(dirfd, path, O_RDONLY | O_DIRECTORY)};
  return static_cast<bool>(fd);
}

/// The base of every step's sandbox.
spec step_spec(const build_ctx& c, std::string script, std::string name) {
  spec s;
  s.argv = {"/bin/sh", std::move(script)};
  s.work_dir = c.req.slot_dir;
  s.ro_binds = {{c.req.builders_dir, "/builders"}};
  s.lim = c.req.lim;
  s.host_id = c.uid;
  s.disk_guard = c.req.slot_dir; // a build that fills the disk ends first
  s.name = std::move(name);
  return s;
}

/// Gives a step the egress path (its namespace and the proxy's variables).
void use_egress(spec& s, const egress& e) {
  s.netns_fd = e.netns_fd();
  for (auto& [k, v] : egress::proxy_env())
    s.env[k] = v;
}

/// Keeps only what filter_npmrc allows of the project's .npmrc.
void sanitize_npmrc(build_ctx& c) {
  unique_fd src{open_beneath(c.slot.fd, "src", O_RDONLY | O_DIRECTORY)};
  std::string text;
  if (!src || !read_beneath(src.fd, ".npmrc", text, 1 << 20)) {
    if (src && errno != ENOENT) { // a symlink, a directory, too large: npm shall not read it
      c.say("ferry: .npmrc is ignored: " + std::string(std::strerror(errno)));
      if (::unlinkat(src.fd, ".npmrc", 0) != 0)
        ::unlinkat(src.fd, ".npmrc", AT_REMOVEDIR);
    }
    return;
  }
  std::vector<std::string> dropped;
  auto kept = filter_npmrc(text, dropped);
  if (dropped.empty())
    return;
  for (auto& d : dropped)
    c.say("ferry: .npmrc: " + d + " is ignored (only registry and scope settings apply)");
  ::unlinkat(src.fd, ".npmrc", 0);
  unique_fd out{
      ::openat(src.fd, ".npmrc", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)};
  if (out) {
    (void)!::write(out.fd, kept.data(), kept.size());
    (void)!::fchown(out.fd, c.uid, c.uid);
  }
}

constexpr size_t keep_caches = 3; ///< dependency caches a project keeps

/// Keeps the keep most recently used dependency caches of a project's
/// directory: a project whose lockfile changes with every deploy does not
/// fill the node's disk.
void prune_cache(const std::string& dir, size_t keep) {
  std::vector<std::pair<fs::file_time_type, fs::path>> entries;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (is_dep_cache_key(name) && e.is_directory(ec))
      entries.emplace_back(fs::last_write_time(e.path(), ec), e.path());
  }
  if (entries.size() <= keep)
    return;
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.first > b.first; });
  // renamed first, at once: a build restoring it meanwhile sees it gone
  // (install_dependencies) rather than a half-removed tree that looks whole
  for (size_t i = keep; i < entries.size(); ++i) {
    auto gone = entries[i].second.string() + ".gone";
    fs::remove_all(gone, ec);
    fs::rename(entries[i].second, gone, ec);
    fs::remove_all(gone, ec);
  }
}

/// Fetches the cluster's copy of a dependency cache into this node's cache
/// directory (cached: created); false if there is none or it cannot be
/// restored (then the step installs).
bool restore_shared_cache(build_ctx& c, const std::string& key, const std::string& cached) {
  if (!c.req.find_shared_cache)
    return false;
  auto root = c.req.find_shared_cache(key);
  if (!root) {
    c.say("ferry: the cluster's dependency caches cannot be asked: " + reason_of(root.error()));
    return false;
  }
  if (root->empty())
    return false;
  std::error_code ec;
  auto tmp = cached + ".tmp";
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (auto err =
          export_tree(c.store, *root, static_cast<uint8_t>(blob_ns::tree), tmp + "/node_modules")) {
    c.say("ferry: the cluster's dependency cache " + key.substr(0, 16) +
          " cannot be restored: " + reason_of(err));
    fs::remove_all(tmp, ec);
    return false;
  }
  fs::remove_all(cached, ec);
  fs::rename(tmp, cached, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    return false;
  }
  prune_cache(c.req.cache_dir, keep_caches);
  return true;
}

/// Stores a dependency cache just saved here in the blob store (on its
/// replicas) and names it to the registry: any build node finds it.
void save_shared_cache(build_ctx& c, const std::string& key, const std::string& cached) {
  if (!c.req.save_shared_cache)
    return;
  auto stored = import_dir(c.store, cached + "/node_modules", static_cast<uint8_t>(blob_ns::tree),
                           c.req.output);
  if (!stored) {
    c.say("ferry: dependency cache not shared with the cluster: " + reason_of(stored.error()));
    return;
  }
  if (auto err = c.req.save_shared_cache(key, stored->first, stored->second.bytes)) {
    c.say("ferry: dependency cache not shared with the cluster: " + reason_of(err));
    return;
  }
  c.say("ferry: dependency cache shared with the cluster (" + std::to_string(stored->second.files) +
        " files, " + std::to_string(stored->second.bytes >> 10) + " KiB)");
}

/// Reads the files of the project's root that decide its install; "" or why not.
std::string read_install_files(build_ctx& c, install_files& f) {
  struct wanted {
    const char* name;
    std::optional<std::string>* into;
    size_t max;
  };
  const wanted files[] = {{"package.json", &f.package_json, 1 << 20},
                          {"package-lock.json", &f.package_lock, 32 << 20},
                          {"npm-shrinkwrap.json", &f.shrinkwrap, 32 << 20},
                          {"pnpm-lock.yaml", &f.pnpm_lock, 32 << 20},
                          {"yarn.lock", &f.yarn_lock, 32 << 20},
                          {"ferry.json", &f.ferry_json, 1 << 20},
                          {"vercel.json", &f.vercel_json, 1 << 20}};
  for (auto& w : files) {
    std::string text;
    if (read_beneath(c.slot.fd, std::string("src/") + w.name, text, w.max)) {
      *w.into = std::move(text);
      continue;
    }
    if (errno == ENOENT)
      continue;
    return std::string(w.name) + (errno == EFBIG
                                      ? " is over " + std::to_string(w.max >> 20) + " MiB"
                                      : ": " + std::string(std::strerror(errno)));
  }
  for (auto* name : {".npmrc", ".yarnrc", ".yarnrc.yml", ".pnpmfile.cjs", "pnpm-workspace.yaml"}) {
    std::string text;
    if (read_beneath(c.slot.fd, std::string("src/") + name, text, 1 << 20))
      f.settings += std::string(name) + '\0' + text + '\0';
  }
  struct stat st;
  f.prebuilt =
      ::fstatat(c.slot.fd, "src/.vercel/output/config.json", &st, AT_SYMLINK_NOFOLLOW) == 0;
  f.bun_lock = ::fstatat(c.slot.fd, "src/bun.lockb", &st, AT_SYMLINK_NOFOLLOW) == 0 ||
               ::fstatat(c.slot.fd, "src/bun.lock", &st, AT_SYMLINK_NOFOLLOW) == 0;
  return {};
}

/// The dependency step; "" or why it failed.
std::string install_dependencies(build_ctx& c) {
  auto& req = c.req;
  struct stat st;
  if (::fstatat(c.slot.fd, "src/node_modules", &st, AT_SYMLINK_NOFOLLOW) == 0)
    return {}; // uploaded with the source
  install_files files;
  if (auto why = read_install_files(c, files); !why.empty())
    return why;
  std::optional<install_plan> plan;
  if (auto why = plan_install(files, plan); !why.empty())
    return why;
  if (!plan)
    return {}; // nothing to install
  const auto& key = plan->key;
  auto cached = req.cache_dir.empty() ? std::string() : req.cache_dir + "/" + key;
  std::error_code ec;
  auto modules = req.slot_dir + "/src/node_modules";
  if (!cached.empty() && !req.no_cache && fs::is_directory(cached + "/node_modules", ec)) {
    ::utimensat(AT_FDCWD, cached.c_str(), nullptr, 0); // used now: kept longest
    // (still there after the copy: no other build let it go meanwhile)
    if (!copy_dir(cached + "/node_modules", modules, c.uid) && fs::is_directory(cached, ec)) {
      c.say("ferry: dependency cache hit (" + key.substr(0, 16) + "), nothing to install");
      return {};
    }
    // (another build of the project let it go meanwhile): installed anew
    fs::remove_all(modules, ec);
  }
  if (!cached.empty() && !req.no_cache && restore_shared_cache(c, key, cached) &&
      !copy_dir(cached + "/node_modules", modules, c.uid)) {
    c.say("ferry: dependency cache hit in the cluster (" + key.substr(0, 16) +
          "), nothing to install");
    return {};
  }
  fs::remove_all(modules, ec);
  c.say(req.no_cache ? "ferry: dependency cache skipped (--no-cache)"
                     : "ferry: dependency cache miss (" + key.substr(0, 16) + ")");
  auto path = egress::open(req.egress, c.say);
  if (!path)
    return "install dependencies: " + reason_of(path.error());
  auto s = step_spec(c, "/builders/install.sh", req.name + "-install");
  // (npm run by npm, as for a git dependency, takes these too: no scripts, no git)
  s.env = {{"PATH", "/builders/bin:/usr/local/bin:/usr/bin:/bin"},
           {"CI", "1"},
           {"npm_config_ignore_scripts", "true"},
           {"npm_config_git", "/bin/false"},
           {"FERRY_PM", plan->manager},
           {"FERRY_PM_PACKAGE", plan->package},
           {"FERRY_PM_LOCKFILE", plan->lockfile},
           {"FERRY_PM_FROZEN", plan->frozen ? "1" : ""},
           {"FERRY_PM_EXTRAS", plan->extras},
           {"FERRY_INSTALL_COMMAND", plan->command}};
  use_egress(s, **path);
  if (fs::exists("/etc/npmrc", ec)) // the operator's registry settings
    s.ro_binds.emplace_back("/etc/npmrc", "/etc/npmrc");
  auto r = run(s, c.on_line, c.cancel);
  path->reset();
  if (!r.ok())
    return "install dependencies " + r.describe();
  if (!cached.empty()) {
    // the sandbox is gone: nothing moves in the slot while it is copied
    if (!is_dir_beneath(c.slot.fd, "src/node_modules"))
      return "the install step left no node_modules directory";
    auto tmp = cached + ".tmp";
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (auto err = copy_dir(modules, tmp + "/node_modules")) {
      c.say("ferry: dependency cache not saved: " + reason_of(err));
    } else {
      fs::remove_all(cached, ec);
      fs::rename(tmp, cached, ec);
      c.say("ferry: dependency cache saved (" + key.substr(0, 16) + ")");
      prune_cache(req.cache_dir, keep_caches);
      save_shared_cache(c, key, cached);
    }
  }
  return {};
}

/// Whether the project's ferry.json asks for network in its build step.
bool build_asks_network(const build_ctx& c) {
  std::string text;
  if (!read_beneath(c.slot.fd, "src/ferry.json", text, 1 << 20))
    return false;
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_object() && j.contains("buildNetwork") && j["buildNetwork"].is_boolean() &&
         j["buildNetwork"].get<bool>();
}

} // namespace

namespace {

bool iprefix(std::string_view v, std::string_view prefix) {
  return v.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), v.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(b)) == a;
         });
}

/// Whether npm would fetch a dependency spec (or a lockfile's resolved,
/// version or from) with git. npm-package-arg reads git in many shapes:
/// git+ssh://, git://, git@host:path, ssh://, github:, gitlab:, bitbucket:,
/// gist:, user/repo, and a URL of a git host that is not a tarball.
bool is_git_spec(std::string_view v, bool shorthand_too) {
  for (auto prefix : {"git+", "git:", "git@", "ssh:", "github:", "gitlab:", "bitbucket:", "gist:"})
    if (iprefix(v, prefix))
      return true;
  auto scheme = v.find("://");
  if (scheme != std::string_view::npos) {
    auto rest = v.substr(scheme + 3);
    auto host_end = rest.find_first_of("/?#");
    std::string host(rest.substr(0, host_end));
    for (auto& c : host)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto at = host.rfind('@'); at != std::string::npos)
      host = host.substr(at + 1);
    auto path = host_end == std::string_view::npos ? std::string_view() : rest.substr(host_end);
    path = path.substr(0, path.find_first_of("?#"));
    bool tarball =
        path.size() >= 4 && (path.substr(path.size() - 4) == ".tgz" ||
                             (path.size() >= 7 && path.substr(path.size() - 7) == ".tar.gz"));
    bool git_host = host == "github.com" || host == "gitlab.com" || host == "bitbucket.org" ||
                    host == "gist.github.com";
    bool dot_git = path.size() >= 4 && path.substr(path.size() - 4) == ".git";
    return dot_git || (git_host && !tarball);
  }
  if (!shorthand_too || v.empty() || v.front() == '@' || v.front() == '.' || v.front() == '/')
    return false;
  // user/repo, user/repo#ref: GitHub's shorthand
  auto body = v.substr(0, v.find('#'));
  auto slash = body.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == body.size() ||
      body.find('/', slash + 1) != std::string_view::npos)
    return false;
  return std::all_of(body.begin(), body.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

} // namespace

std::string git_dependency(std::string_view lockfile) {
  // Read without building a tree (SAX): a tenant's file costs neither
  // memory nor stack, however large or deep.
  struct scan : nlohmann::json_sax<nlohmann::json> {
    std::string found, why;
    std::string last_key;
    std::vector<std::string> parents; ///< the key naming each open object or array
    bool string(string_t& v) override {
      auto parent = parents.empty() ? std::string() : parents.back();
      bool in_deps = parent == "dependencies" || parent == "devDependencies" ||
                     parent == "optionalDependencies" || parent == "peerDependencies" ||
                     parent == "requires";
      bool spec = last_key == "version" || last_key == "from";
      if ((in_deps || spec || last_key == "resolved") &&
          is_git_spec(v, in_deps || spec)) { // (a link's resolved is a path: a/b)
        found = v.substr(0, 160);
        return false;
      }
      return true;
    }
    bool open() {
      parents.push_back(last_key);
      last_key.clear();
      if (parents.size() <= 256)
        return true;
      why = "nests deeper than 256";
      return false;
    }
    bool close() {
      if (!parents.empty())
        parents.pop_back();
      last_key.clear();
      return true;
    }
    bool start_object(std::size_t) override { return open(); }
    bool start_array(std::size_t) override { return open(); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool key(string_t& k) override {
      last_key = k.substr(0, 64);
      return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
      why = "is not JSON";
      return false;
    }
  } s;
  nlohmann::json::sax_parse(lockfile, &s);
  if (!s.found.empty())
    return "installs " + s.found +
           " from git: git dependencies run code while they install, "
           "and ferry refuses them (publish the package to the registry, or keep it in the "
           "project)";
  return s.why;
}

std::string filter_npmrc(std::string_view text, std::vector<std::string>& dropped) {
  static const std::set<std::string, std::less<>> options{"registry",
                                                          "always-auth",
                                                          "strict-ssl",
                                                          "legacy-peer-deps",
                                                          "strict-peer-deps",
                                                          "engine-strict",
                                                          "save-exact",
                                                          "save-prefix",
                                                          "package-lock",
                                                          "omit",
                                                          "include",
                                                          "optional",
                                                          "fund",
                                                          "audit",
                                                          "progress",
                                                          "loglevel",
                                                          "prefer-offline",
                                                          "prefer-online",
                                                          "fetch-retries",
                                                          "fetch-timeout",
                                                          "fetch-retry-mintimeout",
                                                          "fetch-retry-maxtimeout",
                                                          "install-strategy",
                                                          "install-links",
                                                          "auto-install-peers",
                                                          "shamefully-hoist",
                                                          "node-linker",
                                                          "strict-peer-dependencies",
                                                          "public-hoist-pattern",
                                                          "hoist-pattern",
                                                          "resolution-mode",
                                                          "link-workspace-packages",
                                                          "dedupe-peer-dependents"};
  static const std::string_view credentials[] = {":_authToken", ":_auth", ":username",
                                                 ":_password",  ":email", ":always-auth"};
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
      s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
      s.remove_suffix(1);
    return s;
  };
  auto ends_with = [](std::string_view s, std::string_view end) {
    return s.size() >= end.size() && s.substr(s.size() - end.size()) == end;
  };
  std::string kept;
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    auto line = trim(text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.empty() || line.front() == '#' || line.front() == ';')
      continue;
    auto eq = line.find('=');
    auto key = trim(line.substr(0, eq));
    bool control = false;
    for (char ch : line)
      control = control || static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
    bool ok = eq != std::string_view::npos && !key.empty() && !control &&
              (options.count(key) ||
               (key.front() == '@' && ends_with(key, ":registry") && key.size() > 10) ||
               (key.rfind("//", 0) == 0 &&
                std::any_of(std::begin(credentials), std::end(credentials),
                            [&](std::string_view c) { return ends_with(key, c); })));
    if (ok) {
      kept.append(key).append("=").append(trim(line.substr(eq + 1))).append("\n");
    } else {
      std::string shown(key.substr(0, 64));
      for (auto& ch : shown)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
          ch = '?';
      dropped.push_back("'" + shown + "'");
    }
  }
  return kept;
}

bool wipe(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  for (auto& e : fs::directory_iterator(dir, ec))
    fs::remove_all(e.path(), ec);
  return !ec && fs::is_empty(dir, ec);
}

build_outcome run_build(blob_store& store, const build_request& req, const lines_fn& on_line,
                        const std::atomic<bool>* cancel) {
  build_outcome o;
  host_id id;
  if (!id.id()) {
    o.error = "every sandbox host id is in use";
    return o;
  }
  if (!wipe(req.slot_dir)) {
    o.error = "cannot wipe the slot " + req.slot_dir;
    return o;
  }
  build_ctx c{store, req, on_line, cancel, id.id(), unique_fd{}, {}};
  c.say = [&on_line](const std::string& line) { on_line(stream::out, line); };
  c.slot = unique_fd{::open(req.slot_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!c.slot) {
    o.error = "cannot open the slot " + req.slot_dir;
    return o;
  }
  if (auto err = export_tree(store, req.source_root, static_cast<uint8_t>(blob_ns::tree),
                             req.slot_dir + "/src", c.uid)) {
    o.error = "restore the source: " + reason_of(err);
    return o;
  }
  if (::mkdirat(c.slot.fd, "out", 0755) != 0 ||
      ::fchownat(c.slot.fd, "out", c.uid, c.uid, AT_SYMLINK_NOFOLLOW) != 0) {
    o.error = "cannot make the output directory";
    return o;
  }
  sanitize_npmrc(c);
  if (auto err = install_dependencies(c); !err.empty()) {
    o.error = err;
    o.run.canceled = cancel && cancel->load();
    return o;
  }
  auto s = step_spec(c, "/builders/init.sh", req.name);
  s.env = req.build_env;
  s.env["PATH"] = "/builders/bin:/usr/local/bin:/usr/bin:/bin"; // (pnpm and yarn: bin/pm-shim.sh)
  s.env["NODE_ENV"] = "production";
  s.env["CI"] = "1";
  // the build's way out: the whole allow-list when its project asks and the
  // operator allows; else what every build may reach (build_egress_allow:
  // the hosts frameworks fetch from while they build), if anything
  bool asks = build_asks_network(c);
  if (asks && !req.build_network)
    c.say(
        "ferry: ferry.json asks for network in the build; this cluster does not allow it "
        "(build_network in cluster.conf): the build reaches build_egress_allow only");
  bool full = asks && req.build_network;
  std::unique_ptr<egress> path;
  if (full || !req.build_egress.hosts.empty()) {
    auto opened = egress::open(full ? req.egress : req.build_egress, c.say);
    if (!opened) {
      o.error = "build network: " + reason_of(opened.error());
      return o;
    }
    path = std::move(*opened);
    use_egress(s, *path);
    if (full)
      c.say("ferry: the build may reach the egress allow-list (buildNetwork)");
  }
  o.run = run(s, on_line, cancel);
  path.reset();
  if (!o.run.ok()) {
    o.error = "build " + o.run.describe();
    return o;
  }
  auto stored = import_dir(store, req.slot_dir + "/out", static_cast<uint8_t>(blob_ns::output_tree),
                           req.output);
  if (!stored) {
    o.error = "store the output: " + reason_of(stored.error());
    return o;
  }
  o.artifact_root = stored->first;
  o.artifact = stored->second;
  return o;
}

} // namespace ferry::sandbox
