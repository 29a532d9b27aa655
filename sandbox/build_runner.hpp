#pragma once
// Runs one build in a slot directory: restores the version's source tree
// from the blob store into SLOT/src; when there is a package-lock.json,
// restores node_modules from the dependency cache (keyed by the lockfile's
// hash) or runs builders/install.sh (npm ci) in a sandbox that may reach the
// network and saves the result; then runs the pipeline of builders/
// (init.sh -> starter.js -> builder -> end.sh) in the sandbox with the
// builders read-only at /builders, and stores SLOT/out as the artifact (a
// tree in the output namespaces). The build's environment holds only PATH,
// HOME and the build's own variables: never a secret of the deployment.
#include "sandbox/runner.hpp"
#include "storage/blob_store.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <string>

namespace ferry::sandbox {

struct build_request {
  std::string source_root;  ///< root of the version's tree (namespace tree)
  std::string slot_dir;     ///< wiped and reused
  std::string builders_dir; ///< the builders/ folder
  std::string cache_dir;    ///< this project's dependency cache (host directory), if any
  bool no_cache = false;    ///< ignore (but refill) the dependency cache
  std::map<std::string, std::string> build_env; ///< extra variables for the build
  limits lim;
  bool network = false;
  std::string name; ///< unique per build (names its cgroup)
};

struct build_outcome {
  result run;
  std::string artifact_root; ///< set on success
  tree_stats artifact;
  std::string error; ///< why it failed, one line
  bool ok() const { return error.empty(); }
};

build_outcome run_build(blob_store& store, const build_request& req,
                        const std::function<void(stream, std::string_view)>& on_line,
                        const std::atomic<bool>* cancel = nullptr);

/// Empties a slot directory (keeps the directory itself).
bool wipe(const std::string& dir);

} // namespace ferry::sandbox
