#include "sandbox/build_runner.hpp"

#include "messages/errors.hpp"
#include "storage/dir_io.hpp"

#include "storage/sha256.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ferry::sandbox {

namespace fs = std::filesystem;

namespace {

/// Copies a directory tree (symlinks as links).
bool copy_tree(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  return !ec;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The dependency step; "" or why it failed.
std::string install_dependencies(const build_request& req,
                                 const std::function<void(const std::string&)>& say,
                                 const std::function<void(stream, std::string_view)>& on_line,
                                 const std::atomic<bool>* cancel) {
  auto src = req.slot_dir + "/src";
  auto lock = src + "/package-lock.json";
  std::error_code ec;
  if (!fs::exists(lock, ec) || fs::exists(src + "/node_modules", ec))
    return {};
  auto key = "npm-" + sha256_hex(read_all(lock));
  auto cached = req.cache_dir.empty() ? std::string() : req.cache_dir + "/" + key;
  if (!cached.empty() && !req.no_cache && fs::exists(cached + "/node_modules", ec)) {
    say("ferry: dependency cache hit (" + key.substr(0, 16) + "), nothing to install");
    if (!copy_tree(cached + "/node_modules", src + "/node_modules"))
      return "restore the dependency cache failed";
    return {};
  }
  say(req.no_cache ? "ferry: dependency cache skipped (--no-cache)"
                   : "ferry: dependency cache miss (" + key.substr(0, 16) + ")");
  spec s;
  s.argv = {"/bin/sh", "/builders/install.sh"};
  s.work_dir = req.slot_dir;
  s.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"CI", "1"}};
  s.ro_binds = {{req.builders_dir, "/builders"}};
  s.lim = req.lim;
  s.network = true; // the one step that may reach the registry
  s.name = req.name + "-install";
  auto r = run(s, on_line, cancel);
  if (!r.ok())
    return "install dependencies " + r.describe();
  if (!cached.empty()) {
    auto tmp = cached + ".tmp";
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (copy_tree(src + "/node_modules", tmp + "/node_modules")) {
      fs::remove_all(cached, ec);
      fs::rename(tmp, cached, ec);
      say("ferry: dependency cache saved (" + key.substr(0, 16) + ")");
    }
  }
  return {};
}

} // namespace

bool wipe(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  for (auto& e : fs::directory_iterator(dir, ec))
    fs::remove_all(e.path(), ec);
  return !ec && fs::is_empty(dir, ec);
}

build_outcome run_build(blob_store& store, const build_request& req,
                        const std::function<void(stream, std::string_view)>& on_line,
                        const std::atomic<bool>* cancel) {
  build_outcome o;
  if (!wipe(req.slot_dir)) {
    o.error = "cannot wipe the slot " + req.slot_dir;
    return o;
  }
  if (auto err = export_tree(store, req.source_root, static_cast<uint8_t>(blob_ns::tree),
                             req.slot_dir + "/src")) {
    o.error = "restore the source: " + reason_of(err);
    return o;
  }
  std::error_code ec;
  fs::create_directories(req.slot_dir + "/out", ec);
  auto say = [&](const std::string& line) { on_line(stream::out, line); };
  if (auto err = install_dependencies(req, say, on_line, cancel); !err.empty()) {
    o.error = err;
    o.run.canceled = cancel && cancel->load();
    return o;
  }
  spec s;
  s.argv = {"/bin/sh", "/builders/init.sh"};
  s.work_dir = req.slot_dir;
  s.env = req.build_env;
  s.env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  s.env["NODE_ENV"] = "production";
  s.env["CI"] = "1";
  s.ro_binds = {{req.builders_dir, "/builders"}};
  s.lim = req.lim;
  s.network = req.network;
  s.name = req.name;
  o.run = run(s, on_line, cancel);
  if (!o.run.ok()) {
    o.error = "build " + o.run.describe();
    return o;
  }
  auto stored =
      import_dir(store, req.slot_dir + "/out", static_cast<uint8_t>(blob_ns::output_tree));
  if (!stored) {
    o.error = "store the output: " + reason_of(stored.error());
    return o;
  }
  o.artifact_root = stored->first;
  o.artifact = stored->second;
  return o;
}

} // namespace ferry::sandbox
