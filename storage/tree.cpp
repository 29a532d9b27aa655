#include "storage/tree.hpp"

#include "storage/paths.hpp"
#include "storage/sha256.hpp"

#include <algorithm>
#include <charconv>
#include <map>

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

struct dir_builder {
  std::map<std::string, tree_entry> entries; // by name: sorted
};

std::string parent_of(const std::string& path, std::string& name) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    name = path;
    return {};
  }
  name = path.substr(slash + 1);
  return path.substr(0, slash);
}

} // namespace

tree_error build_tree(std::vector<flat_entry> entries, built_tree& out) {
  out = {};
  // dirs by path; std::map orders "a" before "a/b", so a reverse walk is bottom-up.
  std::map<std::string, dir_builder> dirs;
  dirs[""];
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
    std::string name;
    std::string dir = parent_of(f.path, name);
    // Register every ancestor directory in its parent.
    std::string child = dir;
    while (!child.empty() && !dirs.count(child)) {
      dirs[child];
      std::string cname;
      std::string parent = parent_of(child, cname);
      dirs[parent].entries.emplace(cname, tree_entry{entry_kind::dir, 0, {}, cname});
      child = parent;
    }
    auto [it, fresh] = dirs[dir].entries.emplace(name, tree_entry{f.kind, f.size, f.ref, name});
    if (!fresh)
      return {"bad_path", "duplicate path '" + f.path + "'"};
    out.files++;
    out.bytes += f.kind == entry_kind::link ? 0 : f.size;
  }
  // A name used both as a file and as a directory.
  for (auto& [path, d] : dirs) {
    if (path.empty())
      continue;
    std::string name;
    auto& parent = dirs[parent_of(path, name)];
    if (parent.entries.at(name).kind != entry_kind::dir)
      return {"bad_path", "path '" + path + "' is both a file and a directory"};
  }
  // Children sort after their parent ("a" < "a/b"), so reverse order is bottom-up.
  std::map<std::string, std::pair<std::string, uint64_t>> done; // path -> hash, bytes
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    built_node node;
    node.path = it->first;
    uint64_t total = 0;
    for (auto& [name, e] : it->second.entries) {
      tree_entry entry = e;
      if (entry.kind == entry_kind::dir) {
        auto& [hash, bytes] = done.at(node.path.empty() ? name : node.path + "/" + name);
        entry.ref = hash;
        entry.size = bytes;
      }
      total += entry.kind == entry_kind::link ? 0 : entry.size;
      node.entries.push_back(std::move(entry));
    }
    node.bytes = encode_tree(node.entries);
    node.hash = sha256_hex(node.bytes);
    done[node.path] = {node.hash, total};
    out.nodes.push_back(std::move(node));
  }
  out.root = out.nodes.back().hash;
  return {};
}

} // namespace ferry
