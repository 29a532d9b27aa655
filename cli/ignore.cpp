#include "cli/ignore.hpp"

#include <fstream>
#include <sstream>

#include <sys/stat.h>

namespace ferry::cli {

namespace {

bool class_match(std::string_view& p, char c) {
  // p starts after '['; consumes through ']'.
  bool negate = !p.empty() && (p[0] == '!' || p[0] == '^');
  if (negate)
    p.remove_prefix(1);
  bool hit = false;
  bool first = true;
  while (!p.empty() && (p[0] != ']' || first)) {
    first = false;
    char lo = p[0];
    if (p.size() >= 3 && p[1] == '-' && p[2] != ']') {
      if (c >= lo && c <= p[2])
        hit = true;
      p.remove_prefix(3);
    } else {
      if (c == lo)
        hit = true;
      p.remove_prefix(1);
    }
  }
  if (!p.empty())
    p.remove_prefix(1); // ']'
  return hit != negate;
}

} // namespace

bool glob_match(std::string_view p, std::string_view t) {
  while (!p.empty()) {
    if (p.substr(0, 2) == "**") {
      auto rest = p.substr(2);
      if (!rest.empty() && rest[0] == '/') {
        // "**/" matches zero or more whole directories.
        auto after = rest.substr(1);
        if (glob_match(after, t))
          return true;
        for (size_t i = 0; i < t.size(); ++i)
          if (t[i] == '/' && glob_match(after, t.substr(i + 1)))
            return true;
        return false;
      }
      for (size_t i = 0; i <= t.size(); ++i)
        if (glob_match(rest, t.substr(i)))
          return true;
      return false;
    }
    if (p[0] == '*') {
      auto rest = p.substr(1);
      for (size_t i = 0; i <= t.size(); ++i) {
        if (glob_match(rest, t.substr(i)))
          return true;
        if (i < t.size() && t[i] == '/')
          return false;
      }
      return false;
    }
    if (t.empty())
      return false;
    if (p[0] == '?') {
      if (t[0] == '/')
        return false;
    } else if (p[0] == '[') {
      auto q = p.substr(1);
      if (t[0] == '/' || !class_match(q, t[0]))
        return false;
      p = q;
      t.remove_prefix(1);
      continue;
    } else {
      if (p[0] == '\\' && p.size() > 1)
        p.remove_prefix(1);
      if (p[0] != t[0])
        return false;
    }
    p.remove_prefix(1);
    t.remove_prefix(1);
  }
  return t.empty();
}

const char* const default_ignores = R"(# version control
.git
.gitmodules
.hg
.svn
CVS
# dependencies and local build output (installed and built again)
node_modules/
.cache
.next
.nuxt
.svelte-kit
.astro
.turbo
.vercel
.now
.ferry
__pycache__
.venv
venv
# secrets: set them with `ferry env add`
.env
.env.*
.envrc
# other tools' files, logs, editors and systems
.npmignore
.dockerignore
.gitignore
.vercelignore
.ferryignore
npm-debug.log*
yarn-debug.log*
yarn-error.log*
.pnpm-debug.log*
config.gypi
.lock-wscript
.wafpickle-*
.*.swp
*~
.idea
.vscode
.DS_Store
Thumbs.db
)";

ignore_rules::ignore_rules() {
  add(default_ignores);
}

ignore_rules project_ignores(const std::string& root) {
  ignore_rules rules;
  auto read = [&](const char* name) {
    std::ifstream in(root + "/" + name);
    if (!in)
      return;
    std::stringstream ss;
    ss << in.rdbuf();
    rules.add(ss.str());
  };
  read(".gitignore");
  rules.mark_gitignore_end(); // (the folders' own .gitignore go here: walk.cpp)
  struct stat st;
  if (::stat((root + "/.vercel/output/config.json").c_str(), &st) == 0 && S_ISREG(st.st_mode))
    // prebuilt (the Build Output API): that folder goes up whole, the
    // node_modules a function bundles included
    rules.add("!.vercel\n.vercel/*\n!.vercel/output\n!.vercel/output/**\n");
  read(".vercelignore");
  // .env files again: only a .ferryignore line (!NAME) uploads one
  rules.add(".env\n.env.*\n.envrc\n");
  read(".ferryignore");
  return rules;
}

void ignore_rules::add(std::string_view text) {
  auto more = parse(text);
  rules_.insert(rules_.end(), more.begin(), more.end());
}

void ignore_rules::add_nested(std::string_view dir, std::string_view text) {
  auto more = parse(text);
  for (auto& r : more)
    r.base = dir;
  rules_.insert(rules_.begin() + static_cast<std::ptrdiff_t>(gitignore_end_), more.begin(),
                more.end());
  gitignore_end_ += more.size();
}

std::vector<ignore_rules::rule> ignore_rules::parse(std::string_view text) const {
  std::vector<rule> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    auto line = std::string(text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    while (!line.empty() && line.back() == ' ' &&
           !(line.size() > 1 && line[line.size() - 2] == '\\'))
      line.pop_back();
    if (line.empty() || line[0] == '#')
      continue;
    rule r;
    if (line[0] == '!') {
      r.negate = true;
      line.erase(0, 1);
    } else if (line[0] == '\\') {
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      r.dir_only = true;
      line.pop_back();
    }
    if (line.empty())
      continue;
    if (line.find('/') != std::string::npos) {
      r.anchored = true;
      if (line[0] == '/')
        line.erase(0, 1);
    }
    r.pattern = line;
    out.push_back(std::move(r));
  }
  return out;
}

bool ignore_rules::ignored(std::string_view path, bool is_dir) const {
  auto slash = path.rfind('/');
  auto base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  bool out = false;
  for (auto& r : rules_) {
    if (r.dir_only && !is_dir)
      continue;
    auto rel = path;
    if (!r.base.empty()) { // (a folder's own .gitignore: its files, from it)
      if (path.size() <= r.base.size() + 1 || !path.starts_with(r.base) ||
          path[r.base.size()] != '/')
        continue;
      rel = path.substr(r.base.size() + 1);
    }
    bool hit = r.anchored ? glob_match(r.pattern, rel) : glob_match(r.pattern, base);
    if (hit)
      out = !r.negate;
  }
  return out;
}

} // namespace ferry::cli
