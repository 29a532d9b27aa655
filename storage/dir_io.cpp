#include "storage/dir_io.hpp"

#include "messages/errors.hpp"
#include "storage/paths.hpp"
#include "storage/sha256.hpp"
#include "storage/tree.hpp"

#include <cerrno>
#include <cstring>
#include <deque>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {

namespace {

struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0)
      ::close(fd);
  }
};

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

} // namespace

caf::error export_tree(blob_store& store, const std::string& root, uint8_t tree_ns,
                       const std::string& dest) {
  if (!is_tree_ns(tree_ns))
    return make_error(ec::bad_request, "not a tree namespace");
  if (::mkdir(dest.c_str(), 0755) != 0)
    return io_error("create " + dest);
  int top = ::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (top < 0)
    return io_error("open " + dest);
  // (directory fd, path for messages, node hash); each fd is closed when done
  std::deque<std::tuple<int, std::string, std::string>> todo{{top, "", root}};
  std::vector<tree_entry> entries;
  caf::error failure;
  while (!todo.empty()) {
    auto [dirfd, path, hash] = std::move(todo.front());
    todo.pop_front();
    fd_closer guard{dirfd};
    if (failure)
      continue;
    auto node = store.get(blob_ref{tree_ns, hash});
    if (!node) {
      failure = node.error();
      continue;
    }
    if (auto why = parse_tree(*node, entries); !why.empty()) {
      failure = make_error(ec::corrupt, "directory node " + hash + ": " + why);
      continue;
    }
    for (auto& e : entries) {
      auto sub = path.empty() ? e.name : path + "/" + e.name;
      if (e.kind == entry_kind::dir) {
        if (::mkdirat(dirfd, e.name.c_str(), 0755) != 0) {
          failure = io_error("create " + sub);
          break;
        }
        int fd = ::openat(dirfd, e.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
          failure = io_error("open " + sub);
          break;
        }
        todo.emplace_back(fd, sub, e.ref);
      } else if (e.kind == entry_kind::link) {
        if (auto why = check_link_target(sub, e.ref); !why.empty()) {
          failure = make_error(ec::bad_symlink, why);
          break;
        }
        if (::symlinkat(e.ref.c_str(), dirfd, e.name.c_str()) != 0) {
          failure = io_error("create symlink " + sub);
          break;
        }
      } else {
        auto bytes = store.get(blob_ref{static_cast<uint8_t>(tree_ns - 1), e.ref});
        if (!bytes) {
          failure = bytes.error();
          break;
        }
        mode_t mode = e.kind == entry_kind::exec ? 0755 : 0644;
        int fd = ::openat(dirfd, e.name.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        fd_closer file{fd};
        if (fd < 0 || !write_all(fd, *bytes) || ::fchmod(fd, mode) != 0) {
          failure = io_error("write " + sub);
          break;
        }
      }
    }
  }
  return failure;
}

caf::expected<std::pair<std::string, tree_stats>> import_dir(blob_store& store,
                                                             const std::string& dir,
                                                             uint8_t tree_ns) {
  if (!is_tree_ns(tree_ns))
    return make_error(ec::bad_request, "not a tree namespace");
  auto file_ns = static_cast<uint8_t>(tree_ns - 1);
  std::vector<flat_entry> entries;
  std::vector<blob> batch;
  uint64_t batch_bytes = 0;
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
    auto rel = todo.front();
    todo.pop_front();
    auto full = rel.empty() ? dir : dir + "/" + rel;
    DIR* d = ::opendir(full.c_str());
    if (!d)
      return io_error("read " + full);
    std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
    while (auto* ent = ::readdir(d)) {
      std::string name = ent->d_name;
      if (name == "." || name == "..")
        continue;
      auto sub = rel.empty() ? name : rel + "/" + name;
      if (auto why = check_name(name); !why.empty())
        return make_error(ec::bad_path, "'" + sub + "': " + why);
      struct stat st;
      if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return io_error("stat " + sub);
      if (S_ISDIR(st.st_mode)) {
        todo.push_back(sub);
      } else if (S_ISLNK(st.st_mode)) {
        char target[4097];
        auto n = ::readlinkat(::dirfd(d), name.c_str(), target, sizeof target - 1);
        if (n < 0)
          return io_error("read symlink " + sub);
        entries.push_back(flat_entry{sub, entry_kind::link, 0, std::string(target, n)});
      } else if (S_ISREG(st.st_mode)) {
        int fd = ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        fd_closer file{fd};
        if (fd < 0)
          return io_error("open " + sub);
        std::string data(static_cast<size_t>(st.st_size), '\0');
        size_t got = 0;
        while (got < data.size()) {
          auto r = ::read(fd, data.data() + got, data.size() - got);
          if (r <= 0)
            return io_error("read " + sub);
          got += static_cast<size_t>(r);
        }
        auto hash = sha256_hex(data);
        entries.push_back(flat_entry{sub, (st.st_mode & 0111) ? entry_kind::exec : entry_kind::file,
                                     data.size(), hash});
        batch_bytes += data.size();
        batch.push_back(blob{file_ns, hash, std::move(data)});
        if (batch_bytes > (8 << 20))
          if (auto err = flush())
            return err;
      } else {
        return make_error(ec::bad_file_type, "'" + sub + "' is not a file, directory or symlink");
      }
    }
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

} // namespace ferry
