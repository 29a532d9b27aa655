#include "cli/walk.hpp"

#include "storage/paths.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry::cli {

namespace {

int64_t ns_of(const timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/// A directory to scan: its open fd, its path (relative), and the rules
/// for its entries (its parents' and their own .gitignore files).
struct dir_item {
  int fd = -1;
  std::string path;
  std::shared_ptr<const ignore_rules> rules;
};

/// Directories still to scan, shared by the scanning threads.
struct dir_queue {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<dir_item> todo;
  size_t busy = 0;

  void push(int fd, std::string path, std::shared_ptr<const ignore_rules> rules) {
    std::lock_guard<std::mutex> g{mtx};
    todo.push_back(dir_item{fd, std::move(path), std::move(rules)});
    cv.notify_one();
  }
  /// The next directory, or false when every thread is idle and none is left.
  bool pop(dir_item& out) {
    std::unique_lock<std::mutex> g{mtx};
    cv.wait(g, [&] { return !todo.empty() || busy == 0; });
    if (todo.empty())
      return false;
    out = std::move(todo.back());
    todo.pop_back();
    ++busy;
    return true;
  }
  void done() {
    std::lock_guard<std::mutex> g{mtx};
    if (--busy == 0 && todo.empty())
      cv.notify_all();
  }
};

/// A folder's own .gitignore (not the root's: project_ignores read it), if
/// it has one: a regular file of at most 1 MiB.
std::string nested_gitignore(int dirfd) {
  int fd = openat(dirfd, ".gitignore", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return {};
  std::string text;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (1 << 20)) {
    text.resize(static_cast<size_t>(st.st_size));
    auto n = ::read(fd, text.data(), text.size());
    text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  ::close(fd);
  return text;
}

void scan_dir(int dirfd, const std::string& prefix, std::shared_ptr<const ignore_rules> shared,
              scan_result& out, dir_queue& queue) {
  if (!prefix.empty()) {
    if (auto text = nested_gitignore(dirfd); !text.empty()) {
      auto mine = std::make_shared<ignore_rules>(*shared);
      mine->add_nested(prefix, text);
      shared = std::move(mine);
    }
  }
  const ignore_rules& rules = *shared;
  DIR* d = fdopendir(dirfd);
  if (!d) {
    out.errors.push_back("cannot read directory '" + prefix + "': " + std::strerror(errno));
    ::close(dirfd);
    return;
  }
  while (auto* ent = readdir(d)) {
    std::string_view name = ent->d_name;
    if (name == "." || name == "..")
      continue;
    std::string path = prefix.empty() ? std::string(name) : prefix + "/" + std::string(name);
    struct stat st;
    if (fstatat(dirfd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      out.errors.push_back("cannot stat '" + path + "': " + std::strerror(errno));
      continue;
    }
    bool is_dir = S_ISDIR(st.st_mode);
    if (rules.ignored(path, is_dir)) {
      out.ignored++;
      if (!is_dir && name.starts_with(".env") && out.ignored_env.size() < 8)
        out.ignored_env.push_back(path);
      continue;
    }
    if (auto why = check_name(name); !why.empty()) {
      out.errors.push_back("'" + path + "': " + why);
      continue;
    }
    if (is_dir) {
      int sub = openat(dirfd, ent->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        out.errors.push_back("cannot open directory '" + path + "': " + std::strerror(errno));
        continue;
      }
      queue.push(sub, std::move(path), shared);
      continue;
    }
    scanned_file f;
    f.path = std::move(path);
    f.size = static_cast<uint64_t>(st.st_size);
    f.mtime_ns = ns_of(st.st_mtim);
    f.ctime_ns = ns_of(st.st_ctim);
    f.ino = st.st_ino;
    if (S_ISREG(st.st_mode)) {
      f.kind = (st.st_mode & 0111) ? entry_kind::exec : entry_kind::file;
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4097];
      auto n = readlinkat(dirfd, ent->d_name, buf, sizeof buf - 1);
      if (n < 0) {
        out.errors.push_back("cannot read symlink '" + f.path + "': " + std::strerror(errno));
        continue;
      }
      f.kind = entry_kind::link;
      f.link_target.assign(buf, static_cast<size_t>(n));
      if (auto why = check_link_target(f.path, f.link_target); !why.empty()) {
        out.errors.push_back(why);
        continue;
      }
      f.size = f.link_target.size();
    } else {
      const char* what = S_ISFIFO(st.st_mode)   ? "a FIFO"
                         : S_ISSOCK(st.st_mode) ? "a socket"
                         : S_ISCHR(st.st_mode)  ? "a character device"
                         : S_ISBLK(st.st_mode)  ? "a block device"
                                                : "not a regular file";
      out.errors.push_back("'" + f.path + "' is " + what +
                           " (only files, directories and symlinks deploy)");
      continue;
    }
    out.files.push_back(std::move(f));
  }
  closedir(d);
}

} // namespace

scan_result scan_tree(const std::string& root) {
  scan_result out;
  auto rules = std::make_shared<const ignore_rules>(project_ignores(root));
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    out.errors.push_back("cannot open directory '" + root + "': " + std::strerror(errno));
    return out;
  }
  // Two threads stat in parallel: on a no-op deploy the scan is most of the work.
  dir_queue queue;
  queue.push(fd, "", rules);
  auto worker = [&](scan_result& res) {
    dir_item dir;
    while (queue.pop(dir)) {
      scan_dir(dir.fd, dir.path, std::move(dir.rules), res, queue);
      queue.done();
    }
  };
  scan_result other;
  std::thread helper(worker, std::ref(other));
  worker(out);
  helper.join();
  out.files.insert(out.files.end(), std::make_move_iterator(other.files.begin()),
                   std::make_move_iterator(other.files.end()));
  out.errors.insert(out.errors.end(), other.errors.begin(), other.errors.end());
  out.ignored += other.ignored;
  for (auto& e : other.ignored_env)
    if (out.ignored_env.size() < 8)
      out.ignored_env.push_back(e);
  std::sort(out.ignored_env.begin(), out.ignored_env.end());
  return out;
}

} // namespace ferry::cli
