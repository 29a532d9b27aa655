// Builds: one build, its log, canceling it; a version's builds, a rebuild
// without upload, and the output of its latest build.
#include "actors/api/common.hpp"
#include "actors/api/handlers.hpp"

#include "messages/build.hpp"
#include "storage/tar.hpp"
#include "storage/tree.hpp"

#include <map>
#include <mutex>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace ferry::api {

namespace {

/// A build the principal may see (through its version's project), or an error.
caf::expected<build_status> visible_build(route_ctx& c, const std::string& id) {
  auto b =
      ask_role<build_status, build_scheduler_actor>(c.self, c.roles, "builds", get_atom::value, id);
  if (!b)
    return b.error();
  auto v = get_version(c, b->version_id);
  if (!v)
    return make_error(ec::not_found, "no build '" + id + "'");
  return b;
}

} // namespace

http_response build_route(route_ctx& c) {
  auto b = visible_build(c, c.param("id"));
  return b ? ok_json(build_json(*b)) : fail(b.error());
}

http_response build_cancel(route_ctx& c) {
  auto b = visible_build(c, c.param("id"));
  if (!b)
    return fail(b.error());
  auto r = ask_role<build_status, build_scheduler_actor>(c.self, c.roles, "builds",
                                                         cancel_atom::value, c.param("id"));
  return r ? ok_json(build_json(*r)) : fail(r.error());
}

http_response build_logs(route_ctx& c) {
  const auto& id = c.param("id");
  auto b = visible_build(c, id);
  if (!b)
    return fail(b.error());
  uint64_t from = 0;
  auto f = query_value(c.req.target, "from");
  if (!f.empty()) {
    auto [ptr, err] = std::from_chars(f.data(), f.data() + f.size(), from);
    if (err != std::errc{} || ptr != f.data() + f.size())
      return fail(ec::bad_request, "from must be a line number");
  }
  if (b->id != id) // lost with its node: its next attempt answers; follow that one
    return ok_json(json{{"build", b->id},
                        {"replaces", id},
                        {"state", b->state},
                        {"lines", json::array()},
                        {"next", 0},
                        {"more", false}});
  auto lines = ask_role<std::vector<log_line>, build_scheduler_actor>(c.self, c.roles, "builds",
                                                                      logs_atom::value, id, from);
  if (!lines)
    return fail(lines.error());
  auto arr = json_array(*lines, [](const log_line& l) {
    return json{{"seq", l.seq}, {"ms", l.ms}, {"stream", l.stream}, {"text", l.text}};
  });
  auto next = from + lines->size();
  // (a page holds at most 1 MiB of lines: "more" asks for the next at once)
  return ok_json(json{{"build", id},
                      {"state", b->state},
                      {"lines", arr},
                      {"next", next},
                      {"more", !lines->empty() && next < b->log_lines}});
}

http_response rebuild(route_ctx& c) {
  const auto& id = c.param("id");
  auto v = get_version(c, id);
  if (!v)
    return fail(v.error());
  if (v->state == "created")
    return fail(ec::conflict, "version " + id + " is not sealed yet");
  json out = version_json(*v);
  queue_build(c, *v, query_flag(c.req.target, "no_cache"), out);
  if (!out.contains("build_status"))
    return fail(ec::unavailable,
                out.value("build_error", std::string("no build role in this cluster")));
  return ok_json(out["build_status"], 201);
}

http_response version_builds(route_ctx& c) {
  const auto& id = c.param("id");
  auto v = get_version(c, id);
  if (!v)
    return fail(v.error());
  auto list = ask_role<std::vector<build_status>, build_scheduler_actor>(c.self, c.roles, "builds",
                                                                         list_atom::value, id);
  auto arr = list ? json_array(*list, build_json) : json::array();
  return ok_json(json{{"version", id}, {"builds", arr}});
}

namespace {

/// One of the archives made or sent at once (four, two of a user); empty if
/// none is free. It is given back when the last copy goes.
std::shared_ptr<void> archive_slot(const std::string& user) {
  static std::mutex mtx;
  static int total = 0;
  static std::map<std::string, int> by_user;
  std::lock_guard<std::mutex> guard{mtx};
  if (total >= 4 || by_user[user] >= 2) {
    if (by_user[user] == 0)
      by_user.erase(user);
    return nullptr;
  }
  ++total;
  ++by_user[user];
  return std::shared_ptr<void>(reinterpret_cast<void*>(1), [user](void*) {
    std::lock_guard<std::mutex> again{mtx};
    --total;
    if (--by_user[user] == 0)
      by_user.erase(user);
  });
}

} // namespace

/// The output of a version's latest successful build as a tar archive.
http_response artifact_route(route_ctx& c) {
  const auto& id = c.param("id");
  auto v = get_version(c, id);
  if (!v)
    return fail(v.error());
  if (v->build_id.empty())
    return fail(ec::not_found, "version " + id + " has not been built");
  auto b = ask_role<build_status, build_scheduler_actor>(c.self, c.roles, "builds", get_atom::value,
                                                         v->build_id);
  if (!b)
    return fail(b.error());
  if (b->state != "built")
    return fail(ec::conflict, "build " + b->id + " is " + b->state + ", not built");
  // the archive goes to an unnamed file, then out: an output of a gigabyte
  // is never held in memory (a file of it is, one at a time); four files at
  // most are made or sent at once, two of a user
  auto slot = archive_slot(c.who.user);
  if (!slot)
    return fail(ec::unavailable, "too many archives are being made or sent; ask again soon");
  int fd = ::open(scratch_dir().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == ENOENT)) {
    // (a file system without unnamed files: a named one, gone at once)
    auto path = scratch_dir() + "/.ferry-archive-XXXXXX";
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd >= 0)
      ::unlink(path.c_str());
  }
  if (fd < 0)
    return fail(ec::storage_error, "cannot make an archive: " + std::string(std::strerror(errno)));
  // the descriptor and the slot go together, when the answer has been sent
  auto file = std::shared_ptr<const int>(new int(fd), [slot](const int* p) {
    ::close(*p);
    delete p;
  });
  tar_writer tar(fd);
  std::vector<std::pair<std::string, std::string>> todo{{"", b->artifact_root}};
  std::vector<tree_entry> entries;
  auto tree_ns = static_cast<uint8_t>(blob_ns::output_tree);
  while (!todo.empty()) {
    auto [path, hash] = todo.back();
    todo.pop_back();
    auto node =
        ask_role<blob, cas_actor>(c.self, c.roles, "cas", get_atom::value, blob_ref{tree_ns, hash});
    if (!node)
      return fail(node.error());
    if (auto why = parse_tree(node->data, entries); !why.empty())
      return fail(ec::corrupt, why);
    for (auto& e : entries) {
      auto sub = path.empty() ? e.name : path + "/" + e.name;
      bool ok = true;
      if (e.kind == entry_kind::dir) {
        ok = tar.add_dir(sub);
        todo.emplace_back(sub, e.ref);
      } else if (e.kind == entry_kind::link) {
        ok = tar.add_symlink(sub, e.ref);
      } else {
        auto f = ask_role<blob, cas_actor>(c.self, c.roles, "cas", get_atom::value,
                                           blob_ref{static_cast<uint8_t>(tree_ns - 1), e.ref});
        if (!f)
          return fail(f.error());
        ok = tar.add_file(sub, f->data, e.kind == entry_kind::exec);
      }
      if (!ok)
        return fail(ec::too_large, "path too long for a tar archive: " + sub.substr(0, 200));
      if (!tar.ok())
        return fail(ec::storage_error, "cannot make an archive: the disk is full");
    }
  }
  tar.finish();
  if (!tar.ok())
    return fail(ec::storage_error, "cannot make an archive: the disk is full");
  http_response r{200, "application/x-tar", {}};
  r.file = std::move(file);
  return r;
}

} // namespace ferry::api
