#pragma once
// What a deploy leaves out, in gitignore syntax (comments, '!' negation,
// trailing '/' for directories only, a '/' inside anchors to the root, *,
// ?, ** and [...]). The defaults are Vercel CLI's (version control,
// dependencies, local build caches, editor files) and every .env file;
// then the root's .gitignore, .vercelignore and .ferryignore, each able to
// take back what came before ('!').
#include <string>
#include <string_view>
#include <vector>

namespace ferry::cli {

class ignore_rules {
public:
  /// The defaults (default_ignores).
  ignore_rules();
  /// Adds the rules of one .ferryignore file's text.
  void add(std::string_view text);
  /// True if the path (relative, '/'-separated) is ignored.
  bool ignored(std::string_view path, bool is_dir) const;

private:
  struct rule {
    std::string pattern;
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;
  };
  std::vector<rule> rules_;
};

/// The rules every deploy starts from.
extern const char* const default_ignores;

/// The rules of a project's root: the defaults, then its .gitignore; with a
/// prebuilt .vercel/output (config.json there), that folder is uploaded
/// whatever came before; then .vercelignore; then .env files are left out
/// again (only .ferryignore takes one back); then .ferryignore.
ignore_rules project_ignores(const std::string& root);

/// Glob match where '*' and '?' stop at '/', '**' crosses it.
bool glob_match(std::string_view pattern, std::string_view text);

} // namespace ferry::cli
