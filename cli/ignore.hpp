#pragma once
// .ferryignore: gitignore syntax (comments, '!' negation, trailing '/' for
// directories only, a '/' inside anchors to the root, *, ?, ** and [...]).
// The defaults ignore version control, dependencies and ferry's own files.
#include <string>
#include <string_view>
#include <vector>

namespace ferry::cli {

class ignore_rules {
public:
  /// The defaults: .git .hg .svn node_modules .ferry .DS_Store Thumbs.db
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

/// Glob match where '*' and '?' stop at '/', '**' crosses it.
bool glob_match(std::string_view pattern, std::string_view text);

} // namespace ferry::cli
