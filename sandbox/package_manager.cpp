#include "sandbox/package_manager.hpp"

#include "sandbox/build_runner.hpp"
#include "storage/sha256.hpp"

#include <nlohmann/json.hpp>

#include <regex>
#include <string_view>

namespace ferry::sandbox {

namespace {

/// The major version of a version string ("9.15.0" -> 9), or -1.
int major_of(std::string_view v) {
  int n = 0, digits = 0;
  for (char ch : v) {
    if (ch < '0' || ch > '9')
      break;
    if (++digits > 4)
      return -1;
    n = n * 10 + (ch - '0');
  }
  return digits ? n : -1;
}

/// pnpm's lockfileVersion ("lockfileVersion: '9.0'") -> the pnpm that
/// writes it: 9 -> pnpm 9, 6 -> pnpm 8, 5 -> pnpm 7; otherwise pnpm 9.
std::string pnpm_for(const std::string& lock) {
  static const std::regex re(R"(^lockfileVersion:\s*'?([0-9]+))");
  std::smatch m;
  auto head = lock.substr(0, 512);
  if (std::regex_search(head, m, re)) {
    auto major = major_of(m[1].str());
    if (major == 6)
      return "pnpm@8";
    if (major == 5)
      return "pnpm@7";
  }
  return "pnpm@9";
}

/// A dependency a lockfile would fetch with git: its line, or "".
std::string git_line(const std::string& text) {
  static const char* const marks[] = {
      "git+",       "git://",   "git@",  "github:",   "gitlab:",
      "bitbucket:", "#commit=", ".git#", "type: git", "codeload.github.com"};
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (!line.starts_with("#"))
      for (auto* m : marks)
        if (line.find(m) != std::string_view::npos) {
          auto shown = line.substr(line.find_first_not_of(" \t") == std::string_view::npos
                                       ? 0
                                       : line.find_first_not_of(" \t"));
          return std::string(shown.substr(0, 120));
        }
    start = end + 1;
  }
  return {};
}

bool has_dependencies(const nlohmann::json& pkg) {
  for (auto* k : {"dependencies", "devDependencies", "optionalDependencies"})
    if (pkg.contains(k) && pkg[k].is_object() && !pkg[k].empty())
      return true;
  return false;
}

} // namespace

bool is_dep_cache_key(const std::string& key) {
  auto dash = key.find('-');
  if (dash == std::string::npos)
    return false;
  auto name = key.substr(0, dash);
  if (name != "npm" && name != "pnpm" && name != "yarn" && name != "berry" && name != "custom")
    return false;
  auto hex = std::string_view(key).substr(dash + 1);
  if (hex.size() != 64)
    return false;
  for (char ch : hex)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
      return false;
  return true;
}

/// installCommand from ferry.json, else vercel.json: "" and set (a
/// string, maybe empty), "" and unset, or why it cannot be read.
std::string install_command(const install_files& f, std::optional<std::string>& out) {
  for (auto [name, text] :
       {std::pair{"ferry.json", &f.ferry_json}, {"vercel.json", &f.vercel_json}}) {
    if (!*text)
      continue;
    auto doc = nlohmann::json::parse(**text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
      return std::string(name) + " is not a JSON object";
    if (!doc.contains("installCommand") || doc["installCommand"].is_null())
      continue;
    if (!doc["installCommand"].is_string())
      return std::string(name) + ": installCommand is a string";
    auto cmd = doc["installCommand"].get<std::string>();
    if (cmd.size() > 4096 || cmd.find('\0') != std::string::npos)
      return std::string(name) + ": installCommand is over 4 KiB or holds a NUL";
    out = std::move(cmd);
    return {};
  }
  return {};
}

namespace {

/// What ferry installs besides a project's dependencies (install_plan::extras).
std::string extras_of(const nlohmann::json& pkg) {
  std::string kit;
  bool auto_adapter = false;
  for (auto key : {"dependencies", "devDependencies"}) {
    auto it = pkg.find(key);
    if (it == pkg.end() || !it->is_object())
      continue;
    if (it->contains("@sveltejs/adapter-auto"))
      auto_adapter = true;
    if (auto k = it->find("@sveltejs/kit"); k != it->end() && k->is_string())
      kit = k->get<std::string>();
  }
  if (!auto_adapter || kit.empty())
    return {};
  // adapter-node's major for the kit's: 5 for kit 2, 6 for kit 3
  auto digit = kit.find_first_of("0123456789");
  return digit != std::string::npos && kit[digit] >= '3' && kit[digit] <= '9'
             ? "@sveltejs/adapter-node@6"
             : "@sveltejs/adapter-node@5";
}

} // namespace

std::string plan_install(const install_files& f, std::optional<install_plan>& out) {
  out.reset();
  if (f.prebuilt)
    return {}; // (deployed as it is: its functions bundle what they need)
  std::optional<std::string> command;
  if (auto why = install_command(f, command); !why.empty())
    return why;
  if (command) {
    if (command->find_first_not_of(" \t\n") == std::string::npos)
      return {}; // "": no install at all
    install_plan p;
    p.manager = "custom";
    p.command = *command;
    // (the pnpm or yarn its command names, as packageManager says)
    if (auto pkg = nlohmann::json::parse(f.package_json.value_or("{}"), nullptr, false);
        pkg.is_object() && pkg.contains("packageManager") && pkg["packageManager"].is_string()) {
      static const std::regex re(
          R"(^(pnpm|yarn)@([0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?)(\+.*)?$)");
      std::smatch m;
      auto v = pkg["packageManager"].get<std::string>();
      if (v.size() <= 200 && std::regex_match(v, m, re))
        p.package = (m[1] == "yarn" && major_of(m[2].str()) >= 2 ? "@yarnpkg/cli-dist@"
                                                                 : m[1].str() + "@") +
                    m[2].str();
    }
    // (the cache follows the command and what it reads)
    p.key = "custom-" + sha256_hex(*command + '\0' + f.package_json.value_or("") + '\0' +
                                   f.package_lock.value_or("") + '\0' + f.pnpm_lock.value_or("") +
                                   '\0' + f.yarn_lock.value_or("") + '\0' + f.settings);
    out = std::move(p);
    return {};
  }
  if (!f.package_json)
    return {};
  auto pkg = nlohmann::json::parse(*f.package_json, nullptr, false);
  if (pkg.is_discarded() || !pkg.is_object())
    return "package.json is not a JSON object";

  // 1. packageManager, as corepack reads it: NAME@VERSION[+HASH]
  std::string named, version;
  if (pkg.contains("packageManager")) {
    if (!pkg["packageManager"].is_string())
      return "package.json: packageManager is a string such as \"pnpm@9.15.0\"";
    static const std::regex re(
        R"(^(npm|pnpm|yarn)@([0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?)(\+[a-z0-9]+\.[0-9a-fA-F]+)?$)");
    auto value = pkg["packageManager"].get<std::string>();
    std::smatch m;
    if (value.size() > 200 || !std::regex_match(value, m, re))
      return "package.json: packageManager '" + value.substr(0, 64) +
             "' is not npm, pnpm or yarn with an exact version (such as \"pnpm@9.15.0\")";
    named = m[1].str();
    version = m[2].str();
    if (named == "yarn" && major_of(version) >= 2)
      named = "berry";
  }

  // 2. else the lockfile there (Vercel's order: yarn, pnpm, then npm)
  std::string manager = named;
  if (manager.empty()) {
    if (f.yarn_lock)
      manager = f.yarn_lock->find("__metadata:") != std::string::npos ? "berry" : "yarn";
    else if (f.pnpm_lock)
      manager = "pnpm";
    else if (f.package_lock || f.shrinkwrap)
      manager = "npm";
    else if (f.bun_lock)
      return "bun.lockb (or bun.lock): bun is not supported; commit a package-lock.json, "
             "pnpm-lock.yaml or yarn.lock instead, or remove the bun lockfile to install "
             "with npm";
    else
      manager = "npm";
  }

  install_plan p;
  p.manager = manager;
  std::string lock; // the bytes that decide what is installed
  if (manager == "npm") {
    if (f.package_lock || f.shrinkwrap) {
      for (auto* file : {&f.package_lock, &f.shrinkwrap})
        if (*file && !(*file)->empty())
          if (auto why = git_dependency(**file); !why.empty())
            return (file == &f.package_lock ? "package-lock.json " : "npm-shrinkwrap.json ") + why;
      p.lockfile = f.shrinkwrap ? "npm-shrinkwrap.json" : "package-lock.json";
      // (the key of before: a cache made by an earlier ferry still hits)
      auto a = f.package_lock.value_or(""), b = f.shrinkwrap.value_or("");
      lock = b.empty() ? a : a + '\0' + b;
    }
  } else {
    auto& file = manager == "pnpm" ? f.pnpm_lock : f.yarn_lock;
    const char* name = manager == "pnpm" ? "pnpm-lock.yaml" : "yarn.lock";
    if (file) {
      if (auto line = git_line(*file); !line.empty())
        return std::string(name) + " has a git dependency (" + line +
               "), which would run code while it installs: depend on a registry version";
      p.lockfile = name;
      lock = *file;
    }
    if (manager == "pnpm")
      p.package = "pnpm@" + (version.empty() ? pnpm_for(lock).substr(5) : version);
    else if (manager == "yarn")
      p.package = "yarn@" + (version.empty() ? std::string("1.22.22") : version);
    else
      p.package = "@yarnpkg/cli-dist@" + (version.empty() ? std::string("4") : version);
  }
  p.frozen = !p.lockfile.empty() && (manager != "berry" || !version.empty());
  if (p.lockfile.empty()) {
    if (!has_dependencies(pkg))
      return {}; // nothing to install
    if (auto why = git_dependency(*f.package_json); !why.empty())
      return "package.json " + why;
    // resolved afresh: the cache follows package.json (and the manager)
    lock = "install\n" + p.package + "\n" + *f.package_json;
  } else if (manager != "npm") {
    lock = p.package + "\n" + lock;
  }
  // (the managers' settings change what installs: they name the cache too)
  if (!f.settings.empty())
    lock += '\0' + f.settings;
  p.extras = extras_of(pkg);
  if (!p.extras.empty())
    lock += std::string("\0extras\0") + p.extras;
  p.key = manager + "-" + sha256_hex(lock);
  out = std::move(p);
  return {};
}

} // namespace ferry::sandbox
