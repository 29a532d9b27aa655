#include "storage/dir_io.hpp"

#include "messages/errors.hpp"
#include "storage/beneath.hpp"
#include "storage/paths.hpp"
#include "storage/sha256.hpp"
#include "storage/tree.hpp"

#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {

namespace {

/// Files from this size on are streamed into the store.
constexpr uint64_t streamed_from = 1 << 20;

caf::error io_error(const std::string& what) {
  return make_error(ec::storage_error, what + ": " + std::strerror(errno));
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

/// Gives what was just created to owner (0: leaves it).
bool give(int dirfd, const char* name, uint32_t owner) {
  return owner == 0 || ::fchownat(dirfd, name, owner, owner, AT_SYMLINK_NOFOLLOW) == 0;
}

/// A directory to walk, created or opened as a directory and never through a symlink.
caf::expected<unique_fd> open_top(const std::string& dir, bool create) {
  if (create && ::mkdir(dir.c_str(), 0755) != 0)
    return io_error("create " + dir);
  unique_fd fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (!fd) {
    if (errno == ELOOP || errno == ENOTDIR)
      return make_error(ec::bad_symlink, "'" + dir + "' is not a directory (a symlink?)");
    return io_error("open " + dir);
  }
  return fd;
}

/// Each entry of the directory rel beneath top, without "." and ".."; the
/// directory's descriptor is open only while it is read.
template <class F>
caf::error each_entry(int top, const std::string& rel, F&& f) {
  int fd = open_beneath(top, rel, O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return io_error("open " + (rel.empty() ? std::string(".") : rel));
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return io_error("read " + rel);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
  while (auto* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..")
      continue;
    if (auto err = f(::dirfd(d), name))
      return err;
  }
  return {};
}

} // namespace

caf::error export_tree(blob_store& store, const std::string& root, uint8_t tree_ns,
                       const std::string& dest, uint32_t owner) {
  if (!is_tree_ns(tree_ns))
    return make_error(ec::bad_request, "not a tree namespace");
  auto top = open_top(dest, true);
  if (!top)
    return top.error();
  if (owner && ::fchown(top->fd, owner, owner) != 0)
    return io_error("hand over " + dest);
  // (path, node hash): a directory is opened again from the top when its
  // turn comes, so the queue holds no descriptor
  std::deque<std::pair<std::string, std::string>> todo{{"", root}};
  std::vector<tree_entry> entries;
  while (!todo.empty()) {
    auto [path, hash] = std::move(todo.front());
    todo.pop_front();
    auto node = store.get(blob_ref{tree_ns, hash});
    if (!node)
      return node.error();
    if (auto why = parse_tree(*node, entries); !why.empty())
      return make_error(ec::corrupt, "directory node " + hash + ": " + why);
    unique_fd dir{open_beneath(top->fd, path, O_RDONLY | O_DIRECTORY)};
    if (!dir)
      return io_error("open " + path);
    for (auto& e : entries) {
      auto sub = join(path, e.name);
      const char* name = e.name.c_str();
      if (e.kind == entry_kind::dir) {
        if (::mkdirat(dir.fd, name, 0755) != 0 || !give(dir.fd, name, owner))
          return io_error("create " + sub);
        todo.emplace_back(sub, e.ref);
      } else if (e.kind == entry_kind::link) {
        if (auto why = check_link_target(sub, e.ref); !why.empty())
          return make_error(ec::bad_symlink, why);
        if (::symlinkat(e.ref.c_str(), dir.fd, name) != 0 || !give(dir.fd, name, owner))
          return io_error("create symlink " + sub);
      } else {
        auto bytes = store.get(blob_ref{static_cast<uint8_t>(tree_ns - 1), e.ref});
        if (!bytes)
          return bytes.error();
        mode_t mode = e.kind == entry_kind::exec ? 0755 : 0644;
        unique_fd file{
            ::openat(dir.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)};
        if (!file || !write_all(file.fd, *bytes) || ::fchmod(file.fd, mode) != 0 ||
            (owner && ::fchown(file.fd, owner, owner) != 0))
          return io_error("write " + sub);
      }
    }
  }
  return {};
}

caf::expected<std::pair<std::string, tree_stats>> import_dir(blob_store& store,
                                                             const std::string& dir,
                                                             uint8_t tree_ns,
                                                             const import_limits& limits) {
  if (!is_tree_ns(tree_ns))
    return make_error(ec::bad_request, "not a tree namespace");
  auto top = open_top(dir, false);
  if (!top)
    return top.error();
  auto file_ns = static_cast<uint8_t>(tree_ns - 1);
  std::vector<flat_entry> entries;
  std::vector<blob> batch;
  uint64_t batch_bytes = 0, total = 0;
  auto flush = [&]() -> caf::error {
    if (batch.empty())
      return {};
    auto r = store.put(views_of(batch));
    batch.clear();
    batch_bytes = 0;
    return r ? caf::error{} : r.error();
  };
  std::deque<std::string> todo{""};
  while (!todo.empty()) {
    auto rel = std::move(todo.front());
    todo.pop_front();
    auto err = each_entry(top->fd, rel, [&](int dirfd, const std::string& name) -> caf::error {
      auto sub = join(rel, name);
      if (auto why = check_name(name); !why.empty())
        return make_error(ec::bad_path, "'" + sub + "': " + why);
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return io_error("stat " + sub);
      if (S_ISDIR(st.st_mode)) {
        todo.push_back(sub);
      } else if (S_ISLNK(st.st_mode)) {
        char target[4097];
        auto n = ::readlinkat(dirfd, name.c_str(), target, sizeof target - 1);
        if (n < 0)
          return io_error("read symlink " + sub);
        entries.push_back(flat_entry{sub, entry_kind::link, 0, std::string(target, n)});
      } else if (S_ISREG(st.st_mode)) {
        auto size = static_cast<uint64_t>(st.st_size);
        if (limits.max_file && size > limits.max_file)
          return make_error(ec::too_large, "'" + sub + "' is " + std::to_string(size >> 20) +
                                               " MiB, over the largest file allowed (" +
                                               std::to_string(limits.max_file >> 20) + " MiB)");
        total += size;
        if (limits.max_total && total > limits.max_total)
          return make_error(ec::too_large, "the files add up to over " +
                                               std::to_string(limits.max_total >> 20) +
                                               " MiB, the most allowed");
        unique_fd file{::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
        if (!file)
          return io_error("open " + sub);
        auto kind = (st.st_mode & 0111) ? entry_kind::exec : entry_kind::file;
        if (size >= streamed_from) { // streamed into the store, never whole in memory
          auto hash = store.put_file(file_ns, file.fd, size);
          if (!hash)
            return make_error(code_of(hash.error()), "'" + sub + "': " + reason_of(hash.error()));
          entries.push_back(flat_entry{sub, kind, size, *hash});
          return {};
        }
        std::string data(size, '\0');
        size_t got = 0;
        while (got < data.size()) {
          auto r = ::read(file.fd, data.data() + got, data.size() - got);
          if (r < 0 && errno == EINTR)
            continue;
          if (r <= 0)
            return io_error("read " + sub);
          got += static_cast<size_t>(r);
        }
        auto hash = sha256_hex(data);
        entries.push_back(flat_entry{sub, kind, data.size(), hash});
        batch_bytes += data.size();
        batch.push_back(blob{file_ns, hash, std::move(data)});
        if (batch_bytes > (8 << 20))
          return flush();
      } else {
        return make_error(ec::bad_file_type, "'" + sub + "' is not a file, directory or symlink");
      }
      return {};
    });
    if (err)
      return err;
  }
  if (auto err = flush())
    return err;
  if (entries.empty())
    return make_error(ec::bad_request, "'" + dir + "' holds no files");
  built_tree tree;
  if (auto err = build_tree(entries, tree))
    return make_error(err.code == "bad_symlink" ? ec::bad_symlink : ec::bad_path, err.reason);
  std::vector<blob> nodes;
  for (auto& n : tree.nodes)
    nodes.push_back(blob{tree_ns, n.hash, n.bytes});
  if (auto r = store.put(views_of(nodes)); !r)
    return r.error();
  return std::make_pair(tree.root, tree_stats{tree.files, tree.bytes, tree.nodes.size()});
}

caf::error copy_dir(const std::string& from, const std::string& to, uint32_t owner) {
  auto src = open_top(from, false);
  if (!src)
    return src.error();
  auto dst = open_top(to, true);
  if (!dst)
    return dst.error();
  if (owner && ::fchown(dst->fd, owner, owner) != 0)
    return io_error("hand over " + to);
  std::deque<std::string> todo{""};
  std::vector<char> buf(1 << 16);
  while (!todo.empty()) {
    auto rel = std::move(todo.front());
    todo.pop_front();
    unique_fd out{open_beneath(dst->fd, rel, O_RDONLY | O_DIRECTORY)};
    if (!out)
      return io_error("open " + join(to, rel));
    auto err = each_entry(src->fd, rel, [&](int in, const std::string& name) -> caf::error {
      auto sub = join(rel, name);
      const char* n = name.c_str();
      struct stat st;
      if (::fstatat(in, n, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return io_error("stat " + sub);
      if (S_ISDIR(st.st_mode)) {
        if (::mkdirat(out.fd, n, 0755) != 0 || !give(out.fd, n, owner))
          return io_error("create " + sub);
        todo.push_back(sub);
      } else if (S_ISLNK(st.st_mode)) {
        char target[4097];
        auto len = ::readlinkat(in, n, target, sizeof target - 1);
        if (len < 0)
          return io_error("read symlink " + sub);
        target[len] = '\0';
        if (::symlinkat(target, out.fd, n) != 0 || !give(out.fd, n, owner))
          return io_error("create symlink " + sub);
      } else if (S_ISREG(st.st_mode)) {
        mode_t mode = st.st_mode & 0755;
        unique_fd r{::openat(in, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
        unique_fd w{
            ::openat(out.fd, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)};
        if (!r || !w)
          return io_error("copy " + sub);
        while (true) {
          auto got = ::read(r.fd, buf.data(), buf.size());
          if (got < 0 && errno == EINTR)
            continue;
          if (got < 0)
            return io_error("read " + sub);
          if (got == 0)
            break;
          if (!write_all(w.fd, std::string_view(buf.data(), static_cast<size_t>(got))))
            return io_error("write " + sub);
        }
        if (::fchmod(w.fd, mode) != 0 || (owner && ::fchown(w.fd, owner, owner) != 0))
          return io_error("copy " + sub);
      }
      return {};
    });
    if (err)
      return err;
  }
  return {};
}

} // namespace ferry
