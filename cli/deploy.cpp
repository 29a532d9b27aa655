// ferry deploy: scan, hash what changed, compare directory hashes with the
// server top-down, upload only the missing blobs in parallel, seal.
#include "cli/builds.hpp"
#include "cli/commands.hpp"
#include "cli/http_client.hpp"
#include "cli/printable.hpp"
#include "cli/stat_cache.hpp"
#include "cli/uploader.hpp"
#include "cli/walk.hpp"
#include "storage/sha256.hpp"
#include "storage/tree.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fcntl.h>
#include <unistd.h>

namespace ferry::cli {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* help = R"(usage: ferry deploy [DIR] [--project NAME] [--prod] [--json] [-j N]

Uploads the files of DIR (default: .) that the server lacks and seals them as
a new immutable deployment of the project, follows its build, and prints the
deployment's own URL on stdout (its id if the cluster has no router).
Every deployment keeps its URL; production is an alias that moves.

  --prod           a production deployment: once built and healthy, the
                   project's production alias (PROJECT.DOMAIN) moves to it
  --project NAME   project to deploy to (default: "name" in DIR/ferry.json,
                   else DIR's folder name); created on first deploy
  --json           print the version as JSON instead of its id
  -j N             parallel uploads (default 4)
  --no-wait        do not follow the build that the deploy starts

What is left out (gitignore syntax): version control, node_modules, local
build caches (.next, .cache, .vercel...), .env files, editor and system
files; then what DIR/.gitignore (and each folder's own .gitignore, for
that folder), DIR/.vercelignore and DIR/.ferryignore name, each able to
take back what came before with !NAME; a .env file only DIR/.ferryignore. A prebuilt
.vercel/output (with config.json) always goes up. Unchanged files are
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
  progress(bool tty, std::string what, uint64_t total)
      : tty_(tty), what_(std::move(what)), total_(total) {
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

/// A preview deployment gets only the preview environment's variables: say
/// which of production's it lacks (names only: values are never shown).
void warn_missing_preview_vars(http_client& client, const std::string& project) {
  auto r = client.request("GET", "/v1/projects/" + project + "/env");
  auto j = json::parse(r.ok() ? r.body : std::string{}, nullptr, false);
  if (!j.is_object() || !j.contains("env") || !j["env"].is_array())
    return;
  std::set<std::string> production, preview;
  for (auto& e : j["env"])
    if (e.is_object())
      (e.value("environment", "") == "production" ? production : preview)
          .insert(e.value("name", ""));
  std::string missing;
  for (auto& name : production)
    if (!preview.count(name))
      missing += (missing.empty() ? "" : ", ") + name;
  if (!missing.empty())
    std::cerr << "ferry: note: this preview deployment does not get production's " << missing
              << " (set a preview value: ferry env add NAME --environment preview)\n";
}

} // namespace

int cmd_deploy(cli_env& env, const args& a) {
  std::string dir = ".", project;
  int jobs = 4;
  bool wait = true, prod = false;
  bool dir_set = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "-h" || a[i] == "--help") {
      std::cout << help;
      return 0;
    } else if (a[i] == "--project" && i + 1 < a.size()) {
      project = a[++i];
    } else if (a[i] == "--json") {
      env.json = true;
    } else if (a[i] == "--no-wait") {
      wait = false;
    } else if (a[i] == "--prod") {
      prod = true;
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
      std::cerr << "ferry: [" << static_cast<int>(secs_since(last) * 1000) << " ms] " << name
                << "\n";
    last = clock_type::now();
  };
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail("'" + dir + "' is not a directory");
  if (project.empty())
    project = default_project(dir);
  if (project.empty())
    return usage_error("cannot derive a project name from '" + dir + "': give --project NAME",
                       help);

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
  if (!scan.ignored_env.empty()) {
    std::string names;
    for (auto& e : scan.ignored_env)
      names += (names.empty() ? "" : ", ") + printable(e);
    std::cerr << "ferry: left out " << names
              << ": .env files never upload (set secrets with `ferry env add`; a line !NAME in "
                 ".ferryignore uploads one)\n";
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
  size_t hits = 0;
  for (size_t i = 0; i < scan.files.size(); ++i) {
    auto& f = scan.files[i];
    auto h = cache.lookup(f);
    hits += h.has_value();
    if (f.kind == entry_kind::link)
      continue; // its target is its content
    if (h)
      hashes[i] = std::move(*h);
    else {
      to_hash.push_back(i);
      hash_bytes += f.size;
    }
  }
  for (auto i : to_hash)
    if (scan.files[i].size + 64 > uploader::max_blob)
      return fail("'" + scan.files[i].path +
                  "' is over the 64 MiB blob limit; leave it out with .ferryignore");
  // Every entry as it was at the last deploy: the tree is the one deployed then.
  bool unchanged =
      hits == scan.files.size() && cache.size() == scan.files.size() && !cache.root().empty();

  // Files that changed since the last deploy are hashed by two threads and,
  // batch by batch, checked against the server and uploaded by `jobs`
  // threads while the hashing goes on.
  uploader up(dir, scan.files, hashes);
  std::string first_err;
  std::mutex err_mtx;
  auto note_err = [&](const std::string& e) {
    std::lock_guard<std::mutex> g{err_mtx};
    if (first_err.empty())
      first_err = e;
  };
  auto failed = [&] {
    std::lock_guard<std::mutex> g{err_mtx};
    return !first_err.empty();
  };
  if (!to_hash.empty()) {
    if (!env.tty)
      std::cerr << "ferry: hashing " << to_hash.size() << " new or changed file(s) ("
                << human_bytes(static_cast<double>(hash_bytes))
                << ") and uploading what the server lacks\n";
    progress prog(env.tty, "hashing and uploading", hash_bytes);
    std::mutex qmtx;
    std::condition_variable qcv;
    std::deque<prepared_batch> batches;
    bool hashing_done = false;
    constexpr size_t max_queued = 16; // bounds the memory held by read files
    auto push = [&](prepared_batch& batch) {
      if (batch.items.empty())
        return;
      std::unique_lock<std::mutex> g{qmtx};
      qcv.wait(g, [&] { return batches.size() < max_queued; });
      batches.push_back(std::move(batch));
      batch = prepared_batch{};
      qcv.notify_all();
    };
    std::atomic<size_t> next{0};
    // Each file is read once: hashed from the buffer that will upload it.
    auto hasher = [&] {
      prepared_batch pack;
      for (size_t k; (k = next++) < to_hash.size() && !failed();) {
        auto i = to_hash[k];
        auto& f = scan.files[i];
        if (f.size + 64 > uploader::max_blob) {
          note_err("'" + f.path + "' is over the 64 MiB blob limit");
          break;
        }
        prepared_batch single;
        single.single = true;
        auto& into = f.size >= uploader::single_from ? single : pack;
        if (auto e = read_and_hash(dir, f, i, into, hashes[i]); !e.empty()) {
          note_err(e);
          break;
        }
        prog.add(f.size);
        if (single.items.size())
          push(single);
        else if (pack.body.size() >= uploader::pack_limit || pack.items.size() >= 512)
          push(pack);
      }
      push(pack);
    };
    auto sender = [&] {
      http_client c(env.url, env.token);
      while (true) {
        prepared_batch batch;
        {
          std::unique_lock<std::mutex> g{qmtx};
          qcv.wait(g, [&] { return !batches.empty() || hashing_done; });
          if (batches.empty())
            return;
          batch = std::move(batches.front());
          batches.pop_front();
          qcv.notify_all();
        }
        if (failed())
          continue; // drain
        if (auto e = up.upload_prepared(c, batch); !e.empty())
          note_err(e);
      }
    };
    std::vector<std::thread> senders;
    for (int t = 0; t < jobs; ++t)
      senders.emplace_back(sender);
    std::thread second(hasher);
    hasher();
    second.join();
    {
      std::lock_guard<std::mutex> g{qmtx};
      hashing_done = true;
      qcv.notify_all();
    }
    for (auto& t : senders)
      t.join();
    prog.finish();
    if (!first_err.empty()) {
      for (auto i : to_hash)
        if (!hashes[i].empty())
          cache.put(scan.files[i], hashes[i]);
      cache.set_root({});
      cache.save(cache_file, scan_ns);
      return fail(first_err);
    }
  }
  phase("hash and upload changed files");

  // The Merkle tree, built only when the stat cache cannot vouch for its root.
  built_tree tree;
  auto ensure_tree = [&]() -> std::string {
    if (!tree.nodes.empty())
      return {};
    std::vector<flat_entry> flat;
    flat.reserve(scan.files.size());
    for (size_t i = 0; i < scan.files.size(); ++i) {
      auto& f = scan.files[i];
      flat.push_back(flat_entry{f.path, f.kind, f.size,
                                f.kind == entry_kind::link ? f.link_target : hashes[i]});
    }
    if (auto err = build_tree(std::move(flat), tree))
      return "deploy refused: " + err.reason;
    return {};
  };
  std::string root = cache.root();
  uint64_t total_bytes = 0;
  for (auto& f : scan.files)
    total_bytes += f.kind == entry_kind::link ? 0 : f.size;
  if (!unchanged) {
    if (auto e = ensure_tree(); !e.empty())
      return fail(e);
    root = tree.root;
  }
  phase("build tree");
  std::cerr << "ferry: " << scan.files.size() << " files ("
            << human_bytes(static_cast<double>(total_bytes)) << "), " << to_hash.size() << " read, "
            << scan.files.size() - to_hash.size() << " unchanged since the last deploy\n";

  // Compare directory hashes with the server top-down, one level a round,
  // descending only into directories it lacks.
  http_client client(env.url, env.token);
  auto ask_missing = [&](const std::string& body,
                         std::vector<std::pair<uint8_t, std::string>>& out) {
    auto r = client.request("POST", "/v1/missing", body, "application/x-ferry-refs");
    if (!r.ok())
      return r.error_text();
    if (r.body.size() % 33)
      return std::string("unreadable answer");
    for (size_t pos = 0; pos < r.body.size(); pos += 33)
      out.emplace_back(static_cast<uint8_t>(r.body[pos]),
                       to_hex(reinterpret_cast<const uint8_t*>(r.body.data() + pos + 1), 32));
    return std::string();
  };
  std::unordered_map<std::string, const built_node*> node_by_path;
  std::unordered_map<std::string, size_t> file_by_hash;
  std::vector<const built_node*> needed_nodes; // parents before children
  std::vector<size_t> missing_files;
  std::vector<const built_node*> frontier;
  size_t rounds = 1;
  {
    std::string q;
    append_ref(q, 1, root);
    std::vector<std::pair<uint8_t, std::string>> absent;
    if (auto err = ask_missing(q, absent); !err.empty())
      return fail("compare trees: " + err);
    if (!absent.empty()) {
      if (auto e = ensure_tree(); !e.empty())
        return fail(e);
      for (auto& n : tree.nodes)
        node_by_path[n.path] = &n;
      for (size_t i = 0; i < scan.files.size(); ++i)
        if (!hashes[i].empty())
          file_by_hash.emplace(hashes[i], i);
      frontier.push_back(node_by_path.at(""));
      needed_nodes.push_back(frontier.back());
    }
  }
  while (!frontier.empty()) {
    std::string q;
    std::unordered_set<std::string> seen;
    std::unordered_map<std::string, const built_node*> dir_nodes;
    for (auto* n : frontier)
      for (auto& e : n->entries) {
        if (e.kind == entry_kind::link || !seen.insert(e.ref).second)
          continue;
        if (e.kind != entry_kind::dir && up.settled(e.ref))
          continue; // checked (and uploaded if need be) while hashing
        if (e.kind == entry_kind::dir)
          dir_nodes[e.ref] = node_by_path.at(n->path.empty() ? e.name : n->path + "/" + e.name);
        append_ref(q, e.kind == entry_kind::dir ? 1 : 0, e.ref);
      }
    frontier.clear();
    if (q.empty())
      break;
    ++rounds;
    std::vector<std::pair<uint8_t, std::string>> absent;
    if (auto err = ask_missing(q, absent); !err.empty())
      return fail("compare trees: " + err);
    for (auto& [ns, h] : absent) {
      if (ns == 1) {
        frontier.push_back(dir_nodes.at(h));
        needed_nodes.push_back(frontier.back());
      } else {
        missing_files.push_back(file_by_hash.at(h));
      }
    }
  }
  phase("compare trees");

  // Content the stat cache vouched for but the server lacks (a new server,
  // say): upload it now, in parallel.
  if (!missing_files.empty()) {
    if (!env.tty)
      std::cerr << "ferry: uploading " << missing_files.size() << " more blob(s)\n";
    std::atomic<size_t> next{0};
    constexpr size_t chunk = 256;
    auto worker = [&] {
      http_client c(env.url, env.token);
      for (size_t k; (k = next.fetch_add(chunk)) < missing_files.size() && !failed();) {
        std::vector<size_t> part(
            missing_files.begin() + static_cast<long>(k),
            missing_files.begin() + static_cast<long>(std::min(k + chunk, missing_files.size())));
        if (auto e = up.upload_missing(c, part); !e.empty())
          note_err(e);
      }
    };
    std::vector<std::thread> ts;
    for (int t = 0; t < jobs; ++t)
      ts.emplace_back(worker);
    for (auto& t : ts)
      t.join();
    if (!first_err.empty())
      return fail(first_err);
  }

  // Directory nodes, children before parents, in packs.
  if (!needed_nodes.empty()) {
    std::string pack;
    for (auto it = needed_nodes.rbegin(); it != needed_nodes.rend(); ++it) {
      append_pack_header(pack, 1, (*it)->hash, (*it)->bytes.size());
      pack += (*it)->bytes;
      if (pack.size() > uploader::pack_limit || std::next(it) == needed_nodes.rend()) {
        auto r = client.request("POST", "/v1/blobs", pack, "application/x-ferry-blob-pack");
        if (!r.ok())
          return fail("upload directory nodes: " + r.error_text());
        pack.clear();
      }
    }
  }
  phase("upload directory nodes");

  auto r = client.request(
      "POST", "/v1/projects/" + project + "/versions",
      json{{"root", root}, {"seal", true}, {"target", prod ? "production" : "preview"}}.dump());
  phase("seal");
  if (!r.ok())
    return fail("seal: " + r.error_text());
  if (!unchanged) { // remember exactly this tree: its files and its root
    stat_cache next;
    for (size_t i = 0; i < scan.files.size(); ++i) {
      auto& f = scan.files[i];
      next.put(f, f.kind == entry_kind::link ? sha256_hex(f.link_target) : hashes[i]);
    }
    next.set_root(root);
    next.save(cache_file, scan_ns);
  }
  auto v = json::parse(r.body, nullptr, false);
  if (v.is_discarded())
    return fail("seal: unreadable answer");
  std::cerr << "ferry: uploaded " << up.blobs << " blob(s) ("
            << human_bytes(static_cast<double>(up.bytes)) << ") and " << needed_nodes.size()
            << " directory node(s), " << rounds << " round(s) of comparison; sealed " << project
            << " #" << v.value("number", 0) << " in " << static_cast<int>(secs_since(t0) * 1000)
            << " ms\n";
  // The build that the seal queued: follow it to its end.
  int rc = 0;
  if (v.contains("build_error") && v["build_error"].is_string()) { // sealed, but nothing builds it
    std::cerr << "ferry: sealed " << v.value("id", "")
              << " but it cannot be built now: " << printable(v["build_error"].get<std::string>())
              << "\nferry: once a build node is up: ferry rebuild " << v.value("id", "") << "\n";
    rc = 1;
  }
  if (wait && !v.value("build", std::string()).empty()) {
    auto build = v["build"].get<std::string>();
    std::cerr << "ferry: building (" << build << ")\n";
    auto state = follow_build(env, build, 0, true, false);
    std::cerr << "ferry: build " << build << " " << (state.empty() ? "unknown" : state) << "\n";
    rc = state == "built" ? 0 : 1;
    v["state"] = state;
    if (rc == 0) { // its URL, once the registry too has it as built
      // The build service tells the registry a moment after its own state
      // says built: wait for the registry (a promote needs it built there).
      auto until = clock_type::now() + std::chrono::seconds(30);
      while (true) {
        auto now = client.request("GET", "/v1/versions/" + v.value("id", ""));
        auto fresh = json::parse(now.ok() ? now.body : std::string{}, nullptr, false);
        if (fresh.is_object() && fresh.value("state", "") == "built") {
          v["url"] = fresh.value("url", std::string{});
          break;
        }
        if (clock_type::now() > until) {
          std::cerr << "ferry: the registry does not have " << v.value("id", "")
                    << " as built yet: "
                    << (!now.ok()           ? now.error_text()
                        : fresh.is_object() ? fresh.value("state", std::string{"?"})
                                            : std::string{"unreadable answer"})
                    << "\n";
          rc = 1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  if (prod && rc == 0 && wait) {
    auto p = client.request("POST", "/v1/versions/" + v.value("id", "") + "/promote");
    if (!p.ok()) {
      std::cerr << "ferry: production not moved: " << p.error_text() << "\n";
      rc = 1;
    } else {
      auto alias = json::parse(p.body, nullptr, false);
      std::cerr << "ferry: production: " << alias.value("url", alias.value("host", "")) << "\n";
      v["alias"] = alias;
    }
  } else if (prod && !wait) {
    std::cerr << "ferry: --prod with --no-wait: promote it once built (ferry promote ID)\n";
  }
  if (!prod)
    warn_missing_preview_vars(client, project);
  if (env.json) {
    v["upload"] = json{{"files", scan.files.size()},
                       {"files_read", to_hash.size()},
                       {"bytes_read", hash_bytes},
                       {"blobs_uploaded", up.blobs.load()},
                       {"bytes_uploaded", up.bytes.load()},
                       {"dir_nodes_uploaded", needed_nodes.size()},
                       {"rounds", rounds},
                       {"ms", static_cast<int>(secs_since(t0) * 1000)}};
    std::cout << v.dump(2) << "\n";
  } else {
    auto url = v.value("url", std::string{});
    std::cout << (url.empty() ? v.value("id", "") : url) << "\n";
  }
  return rc;
}

} // namespace ferry::cli
