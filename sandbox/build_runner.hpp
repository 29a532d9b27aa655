#pragma once
// Runs one build in a slot directory, every step in a sandbox of its own
// host id (the same for the whole build):
//   1. restores the version's source tree from the blob store into SLOT/src;
//   2. keeps of the project's .npmrc only registry and scope settings;
//   3. with a package-lock.json, restores node_modules from the dependency
//      cache (keyed by the lockfile's hash: this node's, else the cluster's
//      copy in the blob store) or runs builders/install.sh
//      (npm ci) with an egress path to the registry only
//      (sandbox/egress.hpp), and saves the result;
//   4. runs the pipeline of builders/ (init.sh -> starter.js -> builder ->
//      end.sh) with the builders read-only at /builders and no network
//      (unless its ferry.json asks for it and the operator allows it: then
//      through the same egress path);
//   5. stores SLOT/out as the artifact (a tree in the output namespaces),
//      never following a link out of it, within the size limits.
// The build's environment holds only PATH, HOME and the build's own
// variables: never a secret of the deployment.
#include "sandbox/egress.hpp"
#include "sandbox/runner.hpp"
#include "storage/blob_store.hpp"
#include "storage/dir_io.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::sandbox {

struct build_request {
  std::string source_root;  ///< root of the version's tree (namespace tree)
  std::string slot_dir;     ///< wiped and reused
  std::string builders_dir; ///< the builders/ folder
  std::string cache_dir;    ///< this project's dependency cache (host directory), if any
  bool no_cache = false;    ///< ignore (but refill) the dependency cache
  std::map<std::string, std::string> build_env; ///< extra variables for the build
  limits lim;
  egress_policy egress;       ///< where the install step (and an allowed build) may connect
  bool build_network = false; ///< the operator allows a build step network when its project asks
  egress_policy build_egress; ///< where every build step may connect (no hosts: no network)
  import_limits output;       ///< bounds of the artifact
  std::string name;           ///< unique per build (names its cgroup)
  /// The cluster's copies of the project's dependency caches: the trees in
  /// the blob store, key -> tree in the registry. find gives the root ("" if
  /// none); save names a tree just stored. Unset: this node's cache only.
  std::function<caf::expected<std::string>(const std::string& key)> find_shared_cache;
  std::function<caf::error(const std::string& key, const std::string& root, uint64_t bytes)>
      save_shared_cache;
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

/// The lines of a project's .npmrc that ferry keeps: registry and scope
/// settings, registry credentials and a few install options. Every other
/// key (programs such as git, script-shell or node-gyp; paths; proxies) is
/// left out and named in dropped.
std::string filter_npmrc(std::string_view text, std::vector<std::string>& dropped);

/// What a lockfile (or package.json) asks npm to fetch with git: "" if
/// nothing, else the first such reference, or why the file cannot be read.
/// Git dependencies run code while they install (their prepare scripts, by
/// an npm inside the clone that reads the clone's own .npmrc).
std::string git_dependency(std::string_view lockfile);

} // namespace ferry::sandbox
