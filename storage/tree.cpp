#include "storage/tree.hpp"

#include "storage/paths.hpp"
#include "storage/sha256.hpp"

#include <algorithm>
#include <charconv>

namespace ferry {

std::string encode_tree(const std::vector<tree_entry>& entries) {
  std::string out;
  out.reserve(entries.size() * 96);
  for (const auto& e : entries) {
    out += static_cast<char>(e.kind);
    out += ' ';
    out += std::to_string(e.size);
    out += ' ';
    out += e.kind == entry_kind::link ? hex_encode(e.ref) : e.ref;
    out += ' ';
    out += e.name;
    out += '\n';
  }
  return out;
}

std::string parse_tree(std::string_view bytes, std::vector<tree_entry>& out) {
  out.clear();
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < bytes.size()) {
    ++line_no;
    auto where = " (line " + std::to_string(line_no) + ")";
    size_t nl = bytes.find('\n', pos);
    if (nl == std::string_view::npos)
      return "tree node does not end with a newline" + where;
    auto line = bytes.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.size() < 4 || line[1] != ' ')
      return "malformed tree entry" + where;
    tree_entry e;
    char k = line[0];
    if (k != 'f' && k != 'x' && k != 'd' && k != 'l')
      return "unknown entry kind" + where;
    e.kind = static_cast<entry_kind>(k);
    auto rest = line.substr(2);
    size_t sp = rest.find(' ');
    if (sp == std::string_view::npos || sp == 0 || (rest[0] == '0' && sp > 1))
      return "malformed size" + where;
    auto [p, err] = std::from_chars(rest.data(), rest.data() + sp, e.size);
    if (err != std::errc{} || p != rest.data() + sp)
      return "malformed size" + where;
    rest = rest.substr(sp + 1);
    sp = rest.find(' ');
    if (sp == std::string_view::npos)
      return "malformed tree entry" + where;
    auto ref = rest.substr(0, sp);
    if (e.kind == entry_kind::link) {
      if (!hex_decode(ref, e.ref) || hex_encode(e.ref) != ref || e.ref.size() != e.size ||
          e.ref.empty())
        return "malformed link target" + where;
    } else {
      if (!is_hash_hex(ref))
        return "malformed hash" + where;
      e.ref = std::string{ref};
    }
    e.name = std::string{rest.substr(sp + 1)};
    if (auto why = check_name(e.name); !why.empty())
      return why + where;
    if (!out.empty() && !(out.back().name < e.name))
      return "entries not sorted or duplicated at '" + e.name + "'" + where;
    out.push_back(std::move(e));
  }
  return {};
}

namespace {

/// Orders paths component by component ("a/x" before "a-b": the directory
/// "a" sorts before the name "a-b"), which is each directory's name order.
bool component_less(std::string_view a, std::string_view b) {
  size_t i = 0, n = std::min(a.size(), b.size());
  while (i < n && a[i] == b[i])
    ++i;
  if (i == n)
    return a.size() < b.size();
  char x = a[i] == '/' ? '\0' : a[i];
  char y = b[i] == '/' ? '\0' : b[i];
  return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
}

struct open_dir {
  std::string path;
  std::string name;
  std::vector<tree_entry> entries;
  uint64_t bytes = 0;
};

} // namespace

tree_error build_tree(std::vector<flat_entry> entries, built_tree& out) {
  out = {};
  for (auto& f : entries) {
    if (auto why = check_path(f.path); !why.empty())
      return {"bad_path", why};
    if (f.kind == entry_kind::dir)
      return {"bad_request", "manifest entry '" + f.path + "' is a directory"};
    if (f.kind == entry_kind::link) {
      if (auto why = check_link_target(f.path, f.ref); !why.empty())
        return {"bad_symlink", why};
      f.size = f.ref.size();
    } else if (!is_hash_hex(f.ref)) {
      return {"bad_request", "manifest entry '" + f.path + "' has a malformed hash"};
    }
  }
  std::sort(entries.begin(), entries.end(), [](const flat_entry& a, const flat_entry& b) {
    return component_less(a.path, b.path);
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    auto& prev = entries[i - 1].path;
    auto& cur = entries[i].path;
    if (prev == cur)
      return {"bad_path", "duplicate path '" + cur + "'"};
    if (cur.size() > prev.size() && cur.compare(0, prev.size(), prev) == 0 &&
        cur[prev.size()] == '/')
      return {"bad_path", "path '" + prev + "' is both a file and a directory"};
  }
  // Walk the sorted paths with a stack of open directories; closing one
  // encodes it and enters it in its parent, so nodes come out children first.
  std::vector<open_dir> stack(1);
  auto close_top = [&] {
    auto d = std::move(stack.back());
    stack.pop_back();
    built_node node;
    node.path = std::move(d.path);
    node.bytes = encode_tree(d.entries);
    node.hash = sha256_hex(node.bytes);
    node.entries = std::move(d.entries);
    if (!stack.empty()) {
      stack.back().entries.push_back(tree_entry{entry_kind::dir, d.bytes, node.hash, d.name});
      stack.back().bytes += d.bytes;
    }
    out.nodes.push_back(std::move(node));
  };
  for (auto& f : entries) {
    std::string_view path = f.path;
    auto slash = path.rfind('/');
    std::string_view dir =
        slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    // Close open directories that are not ancestors of (or equal to) dir.
    while (stack.size() > 1) {
      auto& top = stack.back().path;
      if (dir.size() >= top.size() && dir.compare(0, top.size(), top) == 0 &&
          (dir.size() == top.size() || dir[top.size()] == '/'))
        break;
      close_top();
    }
    // Open the missing directories down to dir.
    while (stack.back().path.size() < dir.size()) {
      auto& parent = stack.back().path;
      size_t from = parent.empty() ? 0 : parent.size() + 1;
      size_t to = dir.find('/', from);
      if (to == std::string_view::npos)
        to = dir.size();
      open_dir d;
      d.path = std::string(dir.substr(0, to));
      d.name = std::string(dir.substr(from, to - from));
      stack.push_back(std::move(d));
    }
    auto& top = stack.back();
    top.entries.push_back(tree_entry{f.kind, f.size, std::move(f.ref), std::string(name)});
    if (f.kind != entry_kind::link)
      top.bytes += f.size;
    out.files++;
    out.bytes += f.kind == entry_kind::link ? 0 : f.size;
  }
  while (!stack.empty())
    close_top();
  out.root = out.nodes.back().hash;
  return {};
}

} // namespace ferry
