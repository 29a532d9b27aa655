#include "sandbox/build_runner.hpp"

#include "messages/errors.hpp"
#include "storage/dir_io.hpp"

#include <filesystem>

namespace ferry::sandbox {

namespace fs = std::filesystem;

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
  spec s;
  s.argv = {"/bin/sh", "/builders/init.sh"};
  s.work_dir = req.slot_dir;
  s.env = req.build_env;
  s.env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  s.env["NODE_ENV"] = "production";
  s.env["CI"] = "1";
  s.ro_binds = {{req.builders_dir, "/builders"}};
  if (!req.cache_dir.empty()) {
    fs::create_directories(req.cache_dir, ec);
    // A writable bind: the cache is the build's to fill.
    s.rw_binds = {{req.cache_dir, "/cache"}};
  }
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
