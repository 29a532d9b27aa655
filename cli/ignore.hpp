#pragma once
// What a deploy leaves out, in gitignore syntax (comments, '!' negation,
// trailing '/' for directories only, a '/' inside anchors to the root, *,
// ?, ** and [...]). The defaults are Vercel CLI's (version control,
// dependencies, local build caches, editor files) and every .env file;
// then the root's .gitignore and the .gitignore of each folder below (for
// that folder's files, a deeper one over its parents, as git reads them),
// then .vercelignore and .ferryignore, each able to take back what came
// before ('!'); a .env file only a .ferryignore uploads.
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
  /// Adds a folder's own .gitignore (dir relative, '/'-separated): its rules
  /// are read from that folder, after the root's .gitignore and its
  /// parents', before .vercelignore and what follows it.
  void add_nested(std::string_view dir, std::string_view text);
  /// Where nested .gitignore rules go: after what is there now.
  void mark_gitignore_end() { gitignore_end_ = rules_.size(); }
  /// True if the path (relative, '/'-separated) is ignored.
  bool ignored(std::string_view path, bool is_dir) const;

private:
  struct rule {
    std::string pattern;
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;
    std::string base; ///< the folder of a nested .gitignore ("" for the root)
  };
  std::vector<rule> parse(std::string_view text) const;
  std::vector<rule> rules_;
  size_t gitignore_end_ = 0;
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
