// ferry deploy: scan, hash what changed, compare directory hashes with the
// server top-down, upload only the missing blobs in parallel, seal.
#include "cli/commands.hpp"
#include "cli/http_client.hpp"
#include "cli/stat_cache.hpp"
#include "cli/walk.hpp"
#include "storage/sha256.hpp"
#include "storage/tree.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <unistd.h>

namespace ferry::cli {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* help = R"(usage: ferry deploy [DIR] [--project NAME] [--json] [-j N]

Uploads the files of DIR (default: .) that the server lacks and seals them as
a new immutable version of the project. Prints the version id on stdout.

  --project NAME   project to deploy to (default: "name" in DIR/ferry.json,
                   else DIR's folder name); created on first deploy
  --json           print the version as JSON instead of its id
  -j N             parallel uploads (default 4)

DIR/.ferryignore (gitignore syntax) names files to leave out; .git,
node_modules, .ferry and .DS_Store are always left out. Unchanged files are
recognised by a local stat cache and never read again.
)";

using clock_type = std::chrono::steady_clock;

double secs_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

int64_t wall_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

/// A progress line on a TTY, redrawn every 100 ms.
class progress {
public:
  progress(bool tty, std::string what, uint64_t total) : tty_(tty), what_(std::move(what)), total_(total) {
    if (tty_ && total_ > 0)
      thread_ = std::thread([this] {
        while (!done_) {
          draw();
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      });
  }
  ~progress() { finish(); }
  void add(uint64_t n) { done_bytes_ += n; }
  void finish() {
    if (done_.exchange(true))
      return;
    if (thread_.joinable()) {
      thread_.join();
      draw();
      std::cerr << "\n";
    }
  }

private:
  void draw() {
    double f = total_ ? static_cast<double>(done_bytes_) / static_cast<double>(total_) : 1.0;
    int w = 30, fill = static_cast<int>(f * w);
    std::string bar(static_cast<size_t>(fill), '=');
    bar.resize(static_cast<size_t>(w), ' ');
    std::cerr << "\r" << what_ << " [" << bar << "] " << static_cast<int>(f * 100) << "% "
              << human_bytes(static_cast<double>(done_bytes_.load())) << " / "
              << human_bytes(static_cast<double>(total_)) << "   " << std::flush;
  }
  bool tty_;
  std::string what_;
  uint64_t total_;
  std::atomic<uint64_t> done_bytes_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

bool read_file(const std::string& path, std::string& out, std::string& err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    err = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  out.clear();
  char buf[1 << 16];
  while (true) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      err = "cannot read '" + path + "': " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

bool hash_file(const std::string& path, std::string& hash, std::string& err, progress& prog) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    err = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  sha256_stream h;
  static thread_local std::vector<char> buf(1 << 20);
  while (true) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      err = "cannot read '" + path + "': " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0)
      break;
    h.update(buf.data(), static_cast<size_t>(n));
    prog.add(static_cast<uint64_t>(n));
  }
  ::close(fd);
  hash = to_hex(h.finish());
  return true;
}

void append_pack(std::string& pack, uint8_t ns, const std::string& hash, std::string_view bytes) {
  digest d;
  hash_from_hex(hash, d);
  pack += static_cast<char>(ns);
  pack.append(reinterpret_cast<const char*>(d.data()), d.size());
  uint64_t len = bytes.size();
  pack.append(reinterpret_cast<const char*>(&len), 8);
  pack.append(bytes);
}

std::string default_project(const std::string& dir) {
  std::ifstream in(dir + "/ferry.json");
  if (in) {
    auto j = json::parse(in, nullptr, false);
    if (!j.is_discarded() && j.contains("name") && j["name"].is_string())
      return j["name"].get<std::string>();
  }
  std::error_code ec;
  auto name = fs::absolute(dir, ec).lexically_normal().filename().string();
  if (name.empty())
    name = fs::absolute(dir, ec).lexically_normal().parent_path().filename().string();
  std::string out;
  for (char c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += (std::isalnum(static_cast<unsigned char>(c)) ? c : '-');
  }
  while (!out.empty() && out.front() == '-')
    out.erase(0, 1);
  while (!out.empty() && out.back() == '-')
    out.pop_back();
  return out.substr(0, 63);
}

struct upload_job {
  std::vector<size_t> files; ///< indices into the missing list
  bool single = false;
};

} // namespace

int cmd_deploy(cli_env& env, const args& a) {
  std::string dir = ".", project;
  int jobs = 4;
  bool dir_set = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "-h" || a[i] == "--help") {
      std::cout << help;
      return 0;
    } else if (a[i] == "--project" && i + 1 < a.size()) {
      project = a[++i];
    } else if (a[i] == "--json") {
      env.json = true;
    } else if (a[i] == "-j" && i + 1 < a.size()) {
      jobs = std::clamp(std::atoi(a[++i].c_str()), 1, 32);
    } else if (!a[i].empty() && a[i][0] != '-' && !dir_set) {
      dir = a[i];
      dir_set = true;
    } else {
      return usage_error("unknown or incomplete option '" + a[i] + "'", help);
    }
  }
  if (!need_login(env))
    return 1;
  bool verbose = std::getenv("FERRY_VERBOSE") != nullptr;
  auto phase = [&, last = clock_type::now()](const char* name) mutable {
    if (verbose)
      std::cerr << "ferry: [" << static_cast<int>(secs_since(last) * 1000) << " ms] " << name << "\n";
    last = clock_type::now();
  };
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail("'" + dir + "' is not a directory");
  if (project.empty())
    project = default_project(dir);
  if (project.empty())
    return usage_error("cannot derive a project name from '" + dir + "': give --project NAME", help);

  auto t0 = clock_type::now();
  int64_t scan_ns = wall_ns();
  auto scan = scan_tree(dir);
  if (!scan.errors.empty()) {
    for (size_t i = 0; i < scan.errors.size() && i < 10; ++i)
      std::cerr << "ferry: " << scan.errors[i] << "\n";
    if (scan.errors.size() > 10)
      std::cerr << "ferry: ... and " << scan.errors.size() - 10 << " more\n";
    return fail("deploy refused: fix the " + std::to_string(scan.errors.size()) +
                " problem(s) above or list them in .ferryignore");
  }
  if (scan.files.empty())
    return fail("nothing to deploy in '" + dir + "' (every file is ignored or it is empty)");

  phase("scan");
  // Hashes from the stat cache; hash the rest in parallel.
  stat_cache cache;
  auto cache_file = stat_cache::path_for(dir);
  cache.load(cache_file);
  phase("load stat cache");
  std::vector<std::string> hashes(scan.files.size());
  std::vector<size_t> to_hash;
  uint64_t hash_bytes = 0;
  for (size_t i = 0; i < scan.files.size(); ++i) {
    auto& f = scan.files[i];
    if (f.kind == entry_kind::link)
      continue;
    if (auto h = cache.lookup(f))
      hashes[i] = *h;
    else {
      to_hash.push_back(i);
      hash_bytes += f.size;
    }
  }
  if (!to_hash.empty()) {
    progress prog(env.tty, "hashing  ", hash_bytes);
    std::atomic<size_t> next{0};
    std::mutex err_mtx;
    std::string first_err;
    auto worker = [&] {
      for (size_t k; (k = next++) < to_hash.size();) {
        auto i = to_hash[k];
        std::string err;
        if (!hash_file(dir + "/" + scan.files[i].path, hashes[i], err, prog)) {
          std::lock_guard<std::mutex> g{err_mtx};
          if (first_err.empty())
            first_err = err;
        }
      }
    };
    unsigned n = std::min<unsigned>(4, std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::thread> ts;
    for (unsigned t = 1; t < n && to_hash.size() > 64; ++t)
      ts.emplace_back(worker);
    worker();
    for (auto& t : ts)
      t.join();
    prog.finish();
    if (!first_err.empty())
      return fail(first_err);
  }
  for (auto i : to_hash)
    cache.put(scan.files[i], hashes[i]);

  std::vector<flat_entry> flat;
  flat.reserve(scan.files.size());
  for (size_t i = 0; i < scan.files.size(); ++i) {
    auto& f = scan.files[i];
    flat.push_back(flat_entry{f.path, f.kind, f.size,
                              f.kind == entry_kind::link ? f.link_target : hashes[i]});
  }
  phase("hash");
  built_tree tree;
  if (auto err = build_tree(flat, tree))
    return fail("deploy refused: " + err.reason);
  phase("build tree");
  std::cerr << "ferry: " << tree.files << " files (" << human_bytes(static_cast<double>(tree.bytes))
            << "), " << to_hash.size() << " read, " << scan.files.size() - to_hash.size()
            << " unchanged since the last deploy\n";

  // Compare directory hashes with the server, level by level.
  http_client client(env.url, env.token);
  std::unordered_map<std::string, const built_node*> node_by_path; // filled if the root is missing
  std::unordered_map<std::string, size_t> file_by_hash;
  std::vector<const built_node*> needed_nodes; // parents before children
  std::map<std::string, size_t> missing_files; // hash -> a file index
  std::vector<const built_node*> frontier;
  {
    auto r = client.request("POST", "/v1/missing", json{{"tree", {tree.root}}}.dump());
    if (!r.ok())
      return fail("compare trees: " + r.error_text());
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded())
      return fail("compare trees: unreadable answer");
    if (!j["tree"].empty()) {
      for (auto& n : tree.nodes)
        node_by_path[n.path] = &n;
      for (size_t i = 0; i < scan.files.size(); ++i)
        if (!hashes[i].empty())
          file_by_hash.emplace(hashes[i], i);
      frontier.push_back(node_by_path.at(""));
      needed_nodes.push_back(frontier.back());
    }
  }
  size_t rounds = 1;
  while (!frontier.empty()) {
    std::set<std::string> dirs, files;
    std::unordered_map<std::string, const built_node*> dir_nodes;
    for (auto* n : frontier)
      for (auto& e : n->entries) {
        if (e.kind == entry_kind::dir) {
          dirs.insert(e.ref);
          dir_nodes[e.ref] = node_by_path.at(n->path.empty() ? e.name : n->path + "/" + e.name);
        } else if (e.kind != entry_kind::link) {
          files.insert(e.ref);
        }
      }
    frontier.clear();
    if (dirs.empty() && files.empty())
      break;
    json q{{"tree", json::array()}, {"source", json::array()}};
    for (auto& d : dirs)
      q["tree"].push_back(d);
    for (auto& f : files)
      q["source"].push_back(f);
    auto r = client.request("POST", "/v1/missing", q.dump());
    ++rounds;
    if (!r.ok())
      return fail("compare trees: " + r.error_text());
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded())
      return fail("compare trees: unreadable answer");
    for (auto& h : j["tree"]) {
      auto* n = dir_nodes.at(h.get<std::string>());
      frontier.push_back(n);
      needed_nodes.push_back(n);
    }
    for (auto& h : j["source"])
      missing_files.emplace(h.get<std::string>(), file_by_hash.at(h.get<std::string>()));
  }

  phase("compare");
  // Upload the missing file blobs: small ones in packs, large ones alone.
  std::vector<std::pair<std::string, size_t>> missing(missing_files.begin(), missing_files.end());
  uint64_t upload_bytes = 0;
  for (auto& [h, i] : missing)
    upload_bytes += scan.files[i].size;
  constexpr uint64_t pack_limit = 4 << 20, max_blob = 64 << 20;
  std::vector<upload_job> plan;
  {
    upload_job cur;
    uint64_t cur_bytes = 0;
    for (size_t k = 0; k < missing.size(); ++k) {
      auto size = scan.files[missing[k].second].size;
      if (size + 64 > max_blob)
        return fail("'" + scan.files[missing[k].second].path + "' is over the 64 MiB blob limit");
      if (size >= (1 << 20)) {
        plan.push_back(upload_job{{k}, true});
        continue;
      }
      if (cur_bytes + size > pack_limit || cur.files.size() >= 1024) {
        plan.push_back(std::move(cur));
        cur = {};
        cur_bytes = 0;
      }
      cur.files.push_back(k);
      cur_bytes += size;
    }
    if (!cur.files.empty())
      plan.push_back(std::move(cur));
  }
  if (!missing.empty()) {
    if (!env.tty)
      std::cerr << "ferry: uploading " << missing.size() << " blob(s), "
                << human_bytes(static_cast<double>(upload_bytes)) << "\n";
    progress prog(env.tty, "uploading", upload_bytes);
    std::atomic<size_t> next{0};
    std::mutex err_mtx;
    std::string first_err;
    auto worker = [&] {
      http_client c(env.url, env.token);
      std::string body, content, err;
      for (size_t k; (k = next++) < plan.size();) {
        {
          std::lock_guard<std::mutex> g{err_mtx};
          if (!first_err.empty())
            return;
        }
        auto& job = plan[k];
        body.clear();
        uint64_t bytes = 0;
        for (auto m : job.files) {
          auto& f = scan.files[missing[m].second];
          if (!read_file(dir + "/" + f.path, content, err))
            break;
          bytes += content.size();
          if (job.single)
            body.swap(content);
          else
            append_pack(body, 0, missing[m].first, content);
        }
        http_result r;
        if (err.empty())
          r = job.single ? c.request("PUT", "/v1/blobs/source/" + missing[job.files[0]].first, body,
                                     "application/octet-stream")
                         : c.request("POST", "/v1/blobs", body, "application/x-ferry-blob-pack");
        if (err.empty() && !r.ok()) {
          err = "upload: " + r.error_text();
          if (r.error_text().rfind("hash_mismatch", 0) == 0)
            err = "a file changed while deploying (" + r.error_text() + "); run ferry deploy again";
        }
        if (!err.empty()) {
          std::lock_guard<std::mutex> g{err_mtx};
          if (first_err.empty())
            first_err = err;
          return;
        }
        prog.add(bytes);
      }
    };
    std::vector<std::thread> ts;
    for (int t = 0; t < jobs && static_cast<size_t>(t) < plan.size(); ++t)
      ts.emplace_back(worker);
    for (auto& t : ts)
      t.join();
    prog.finish();
    if (!first_err.empty()) {
      cache.save(cache_file, scan_ns);
      return fail(first_err);
    }
  }

  phase("upload files");
  // Directory nodes, children before parents, in packs.
  if (!needed_nodes.empty()) {
    std::string pack;
    for (auto it = needed_nodes.rbegin(); it != needed_nodes.rend(); ++it) {
      append_pack(pack, 1, (*it)->hash, (*it)->bytes);
      if (pack.size() > pack_limit || std::next(it) == needed_nodes.rend()) {
        auto r = client.request("POST", "/v1/blobs", pack, "application/x-ferry-blob-pack");
        if (!r.ok())
          return fail("upload directory nodes: " + r.error_text());
        pack.clear();
      }
    }
  }

  phase("upload directory nodes");
  auto r = client.request("POST", "/v1/projects/" + project + "/versions",
                          json{{"root", tree.root}, {"seal", true}}.dump());
  phase("seal");
  if (!r.ok())
    return fail("seal: " + r.error_text());
  if (!to_hash.empty() || cache.size() != scan.files.size())
    cache.save(cache_file, scan_ns);
  auto v = json::parse(r.body, nullptr, false);
  if (v.is_discarded())
    return fail("seal: unreadable answer");
  std::cerr << "ferry: uploaded " << missing.size() << " blob(s) ("
            << human_bytes(static_cast<double>(upload_bytes)) << ") and " << needed_nodes.size()
            << " directory node(s) in " << rounds << " round(s); sealed " << project << " #"
            << v.value("number", 0) << " in " << static_cast<int>(secs_since(t0) * 1000)
            << " ms\n";
  if (env.json) {
    uint64_t bytes_read = 0;
    for (auto i : to_hash)
      bytes_read += scan.files[i].size;
    v["upload"] = json{{"files", tree.files},
                       {"files_read", to_hash.size()},
                       {"bytes_read", bytes_read},
                       {"blobs_uploaded", missing.size()},
                       {"bytes_uploaded", upload_bytes},
                       {"dir_nodes_uploaded", needed_nodes.size()},
                       {"rounds", rounds},
                       {"ms", static_cast<int>(secs_since(t0) * 1000)}};
    std::cout << v.dump(2) << "\n";
  }
  else
    std::cout << v.value("id", "") << "\n";
  return 0;
}

} // namespace ferry::cli
