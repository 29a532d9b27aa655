#pragma once
// Which package manager installs a project's dependencies, and how: chosen
// the way Vercel chooses, from package.json's "packageManager" (as corepack
// reads it) and else from the lockfile that is there. npm runs as the host
// has it; pnpm and yarn are fetched from the registry as npm packages by
// the install step (builders/install.sh), through the same egress path.
#include <optional>
#include <string>

namespace ferry::sandbox {

/// The files of a project's root that decide its install (absent: nullopt).
struct install_files {
  std::optional<std::string> package_json;
  std::optional<std::string> package_lock; ///< package-lock.json
  std::optional<std::string> shrinkwrap;   ///< npm-shrinkwrap.json
  std::optional<std::string> pnpm_lock;    ///< pnpm-lock.yaml
  std::optional<std::string> yarn_lock;    ///< yarn.lock (classic or berry)
  bool bun_lock = false;                   ///< bun.lockb or bun.lock
  bool prebuilt = false;                   ///< .vercel/output/config.json: nothing to install
  std::optional<std::string> ferry_json;   ///< its installCommand wins over vercel.json's
  std::optional<std::string> vercel_json;
  /// The managers' settings files, each as name NUL bytes NUL (.npmrc,
  /// .yarnrc, .yarnrc.yml, .pnpmfile.cjs, pnpm-workspace.yaml): part of the key
  std::string settings;
};

struct install_plan {
  std::string manager;  ///< npm, pnpm, yarn (classic, 1.x), berry (yarn 2 and later) or
                        ///< custom (installCommand)
  std::string command;  ///< custom: the installCommand, run by sh
  std::string package;  ///< the npm package that runs it ("pnpm@9"); "" for the host's npm
  std::string lockfile; ///< the lockfile it installs from; "": resolved afresh
  /// Exactly the lockfile (npm ci, --frozen-lockfile, --immutable); berry
  /// without a version in packageManager runs the latest yarn, which may
  /// rewrite an older lockfile's format (the versions it locks stay).
  bool frozen = false;
  /// Packages ferry installs next to the project's (not in package.json):
  /// "@sveltejs/adapter-node@5" for a SvelteKit app on adapter-auto, which
  /// finds no platform it knows here. Installed in node_modules/.ferry-extra.
  std::string extras;
  std::string key; ///< of the dependency cache: manager, "-", a SHA-256 of what decides
};

/// "" and the plan (nullopt: nothing to install: no package.json, or no
/// dependencies and no lockfile, or an empty installCommand), or why the
/// project cannot be installed. An installCommand in ferry.json (else
/// vercel.json) replaces the package manager's install.
std::string plan_install(const install_files& f, std::optional<install_plan>& out);

/// Whether key names a dependency cache: one of the managers, "-", and 64
/// lower-case hex digits.
bool is_dep_cache_key(const std::string& key);

} // namespace ferry::sandbox
