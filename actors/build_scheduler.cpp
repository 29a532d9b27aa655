#include "actors/build_scheduler.hpp"

#include "actors/blocking_ask.hpp"

#include "messages/errors.hpp"
#include "messages/registry.hpp"
#include "sandbox/build_runner.hpp"
#include "storage/sha256.hpp"

#include <pthread.h>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>

namespace ferry {

namespace {

using self_ptr = build_scheduler_actor::stateful_pointer<build_scheduler_state>;

constexpr size_t keep_logs = 20; ///< the logs of a project's last 20 builds are kept

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string new_build_id() {
  uint8_t raw[8];
  RAND_bytes(raw, sizeof raw);
  return "b" + to_hex(raw, sizeof raw);
}

bool finished(const std::string& state) {
  return state == "built" || state == "failed" || state == "canceled";
}

/// Appends a line to a build's log (in the build store, through the writer).
void add_line(self_ptr self, build_record& b, uint8_t stream, std::string text) {
  caf::anon_send(self->state.writer, line_atom::value, b.status.id,
                 log_line{b.status.log_lines++, now_ms(), stream, std::move(text)});
}

/// Persists a build's status (synced).
void persist(self_ptr self, const build_record& b) {
  caf::anon_send(self->state.writer, put_atom::value, b.status, b.spec);
}

/// Tells the registry (wherever it lives) the version's new state.
void report(self_ptr self, directory_actor dir, const build_record& b) {
  persist(self, b);
  self->request(dir, std::chrono::seconds(10), lookup_atom::value, std::string("registry"))
      .then(
          [self, version = b.status.version_id, state = b.status.state, id = b.status.id,
           artifact = b.status.artifact_root](caf::actor& reg) {
            self->send(caf::actor_cast<registry_actor>(reg), build_atom::value, version, state, id,
                       artifact);
          },
          [](caf::error&) {}); // the registry restarts; the build's own status stays right
}

/// Calls f with the slot manager of this node, looked up by name (it may
/// have been restarted since the last call).
template <class F>
void with_slots(self_ptr self, directory_actor dir, F f) {
  self->request(dir, std::chrono::seconds(10), lookup_atom::value, std::string("slots"))
      .then([f](caf::actor& a) mutable { f(caf::actor_cast<slot_manager_actor>(a)); },
            [self](caf::error&) {
              self->delayed_send(self, std::chrono::milliseconds(200), acquire_atom::value);
            });
}

void try_start(self_ptr self, blob_store_ptr store, directory_actor dir, build_config cfg);

void start(self_ptr self, blob_store_ptr store, directory_actor dir, build_config cfg,
           const std::string& id, slot_lease lease, uint64_t acquire_us) {
  auto& b = self->state.builds.at(id);
  b.slot = lease.slot;
  b.status.state = "building";
  b.status.started_ms = now_ms();
  b.status.slot_acquire_us = acquire_us;
  add_line(self, b, 0,
           "ferry: building " + b.status.version_id + " in slot " + std::to_string(lease.slot) +
               " (acquired in " + std::to_string(acquire_us) + " us)");
  report(self, dir, b);
  sandbox::build_request req;
  req.source_root = b.spec.source_root;
  req.slot_dir = lease.dir;
  req.builders_dir = cfg.builders_dir;
  if (!cfg.cache_dir.empty())
    req.cache_dir = cfg.cache_dir + "/" + b.spec.project;
  req.no_cache = b.spec.no_cache;
  req.build_env = {{"FERRY_PROJECT", b.spec.project}, {"FERRY_VERSION", b.spec.version_id}};
  req.lim.memory_bytes = cfg.memory_bytes;
  req.lim.pids = cfg.pids;
  req.lim.cpus = cfg.cpus;
  req.lim.wall = std::chrono::seconds(cfg.timeout_s);
  req.egress = cfg.egress;
  req.build_network = cfg.build_network;
  req.build_egress = cfg.build_egress;
  req.output = cfg.output;
  req.name = "build-" + id;
  if (cfg.shared_cache && !req.cache_dir.empty() && !b.spec.user.empty()) {
    // the cluster's copy of the dependency cache: asked of the registry in
    // the name of the version's user (from the build's thread: it waits)
    auto* sys = &self->system();
    auto ask = [sys, dir](auto... xs) -> caf::expected<dep_cache_info> {
      auto reg = blocking_ask<caf::actor>(*sys, dir, std::chrono::seconds(10), lookup_atom::value,
                                          std::string("registry"));
      if (!reg)
        return reg.error();
      return blocking_ask<dep_cache_info>(*sys, caf::actor_cast<registry_actor>(*reg),
                                          std::chrono::seconds(10), cache_atom::value, xs...);
    };
    req.find_shared_cache = [ask, user = b.spec.user, version = b.spec.version_id](
                                const std::string& key) -> caf::expected<std::string> {
      auto c = ask(user, version, key);
      if (!c)
        return c.error();
      return c->root;
    };
    req.save_shared_cache = [ask, user = b.spec.user, version = b.spec.version_id](
                                const std::string& key, const std::string& root,
                                uint64_t bytes) -> caf::error {
      auto c = ask(user, version, key, root, bytes);
      return c ? caf::error{} : c.error();
    };
  }
  self->state.running->insert(b.cancel);
  auto me = caf::actor_cast<build_scheduler_actor>(self);
  self->spawn<caf::detached>([me, store, req, id, cancel = b.cancel, max_log = cfg.max_log_bytes] {
    pthread_setname_np(pthread_self(), "ferry-build");
    // The log is cut past its limit here, where it is made: what a build
    // prints beyond it never reaches a mailbox, the store or a client.
    uint64_t logged = 0;
    bool cut = false;
    auto o = sandbox::run_build(
        *store, req,
        [&](sandbox::stream s, std::string_view line) {
          if (cut)
            return;
          logged += line.size() + 64; // (a line is a record: a key, a time, a stream)
          if (logged > max_log) {
            cut = true;
            caf::anon_send(me, line_atom::value, id,
                           log_line{0, 0, 0,
                                    "ferry: the log is cut here: the build printed over " +
                                        std::to_string(max_log >> 20) +
                                        " MiB (max_build_log_mb); it goes on"});
            return;
          }
          caf::anon_send(me, line_atom::value, id,
                         log_line{0, 0, static_cast<uint8_t>(s), std::string(line)});
        },
        cancel.get());
    build_status end;
    end.state = o.ok() ? "built" : (o.run.canceled ? "canceled" : "failed");
    end.artifact_root = o.artifact_root;
    end.artifact_files = o.artifact.files;
    end.artifact_bytes = o.artifact.bytes;
    end.error = o.error;
    caf::anon_send(me, done_atom::value, id, end);
  });
}

/// A project keeps the logs of its last keep_logs finished builds: a
/// tenant that builds again and again does not fill the node's disk.
void forget_old_logs(self_ptr self, const std::string& project) {
  std::vector<build_record*> done;
  for (auto& [_, b] : self->state.builds)
    if (b.status.project == project && finished(b.status.state) && b.status.log_lines > 0)
      done.push_back(&b);
  if (done.size() <= keep_logs)
    return;
  std::sort(done.begin(), done.end(), [](auto* x, auto* y) {
    return std::tie(x->status.queued_ms, x->status.id) <
           std::tie(y->status.queued_ms, y->status.id);
  });
  for (size_t i = 0; i + keep_logs < done.size(); ++i) {
    auto& b = *done[i];
    caf::anon_send(self->state.writer, remove_atom::value, b.status.id);
    b.status.log_lines = 0;
    persist(self, b);
  }
}

void try_start(self_ptr self, blob_store_ptr store, directory_actor dir, build_config cfg) {
  if (self->state.queue.empty())
    return;
  with_slots(self, dir, [=](slot_manager_actor slots) {
    auto asked = std::chrono::steady_clock::now();
    self->request(slots, std::chrono::seconds(10), acquire_atom::value)
        .then(
            [=](slot_lease& lease) {
              auto acquire_us =
                  static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - asked)
                                            .count());
              auto& st = self->state;
              if (lease.status != "ok") { // all slots busy or being wiped: look again soon
                self->delayed_send(self, std::chrono::milliseconds(100), acquire_atom::value);
                return;
              }
              while (!st.queue.empty() && st.builds.at(st.queue.front()).status.state != "queued")
                st.queue.pop_front(); // canceled while queued
              if (st.queue.empty()) {
                self->send(slots, release_atom::value, lease.slot);
                return;
              }
              auto id = st.queue.front();
              st.queue.pop_front();
              start(self, store, dir, cfg, id, lease, acquire_us);
              try_start(self, store, dir, cfg);
            },
            [self](caf::error&) {
              self->delayed_send(self, std::chrono::milliseconds(200), acquire_atom::value);
            });
  });
}

build_scheduler_actor::behavior_type build_scheduler(self_ptr self, blob_store_ptr store,
                                                     directory_actor dir, build_config cfg,
                                                     std::shared_ptr<build_store> db,
                                                     std::vector<stored_build> earlier) {
  self->state.writer = self->spawn<caf::detached + caf::linked>([db](caf::event_based_actor*) {
    pthread_setname_np(pthread_self(), "ferry-buildlog");
    return caf::behavior{
        [db](put_atom, const build_status& s, const build_spec& spec) {
          db->put(stored_build{s, spec});
        },
        [db](line_atom, const std::string& id, const log_line& l) { db->append(id, l); },
        [db](remove_atom, const std::string& id) { db->drop_log(id); },
        [db](logs_atom, const std::string& id,
             uint64_t from) -> caf::result<std::vector<log_line>> {
          auto lines = db->lines(id, from, 1 << 20); // a page: a client asks for the next

          if (!lines)
            return std::move(lines.error());
          return std::move(*lines);
        },
    };
  });
  // If this scheduler dies, its running builds stop (their sandboxes are
  // killed) and the slot manager takes the slots back.
  self->attach_functor([running = self->state.running](const caf::error&) {
    for (auto& flag : *running)
      flag->store(true);
  });
  // Builds of an earlier incarnation: the finished ones are kept as they
  // are; one that was queued or running then has lost its runner.
  for (auto& e : earlier) {
    build_record b;
    b.status = e.status;
    b.status.node = cfg.node;
    b.spec = e.spec;
    if (!finished(b.status.state)) {
      b.status.state = "failed";
      b.status.error = "interrupted: the build service restarted";
      b.status.finished_ms = now_ms();
      add_line(self, b, 0, "ferry: " + b.status.error);
      report(self, dir, b);
    }
    self->state.builds.emplace(b.status.id, std::move(b));
  }
  return {
      [=](acquire_atom) { try_start(self, store, dir, cfg); },
      [=](build_atom, const build_spec& spec) -> caf::result<build_status> {
        auto& st = self->state;
        if (spec.source_root.empty() || spec.version_id.empty())
          return make_error(ec::bad_request, "a build needs a sealed version");
        if (auto it = st.active.find(spec.version_id); it != st.active.end())
          return st.builds.at(it->second).status; // never built twice at the same time
        build_record b;
        b.spec = spec;
        b.status.id = new_build_id();
        b.status.version_id = spec.version_id;
        b.status.project = spec.project;
        b.status.state = "queued";
        b.status.node = cfg.node;
        b.status.queued_ms = now_ms();
        add_line(self, b, 0, "ferry: build " + b.status.id + " queued");
        if (!spec.note.empty())
          add_line(self, b, 0, "ferry: " + spec.note);
        auto id = b.status.id;
        st.active[spec.version_id] = id;
        st.queue.push_back(id);
        auto status = b.status;
        st.builds.emplace(id, std::move(b));
        report(self, dir, st.builds.at(id));
        try_start(self, store, dir, cfg);
        return status;
      },
      [=](load_atom) {
        build_load load;
        load.slots = cfg.slots;
        load.queued = static_cast<uint32_t>(self->state.queue.size());
        load.running = static_cast<uint32_t>(self->state.active.size()) - load.queued;
        return load;
      },
      [=](get_atom, const std::string& id) -> caf::result<build_status> {
        auto it = self->state.builds.find(id);
        if (it == self->state.builds.end())
          return make_error(ec::not_found, "no build '" + id.substr(0, 64) + "'");
        return it->second.status;
      },
      [=](cancel_atom, const std::string& id) -> caf::result<build_status> {
        auto& st = self->state;
        auto it = st.builds.find(id);
        if (it == st.builds.end())
          return make_error(ec::not_found, "no build '" + id.substr(0, 64) + "'");
        auto& b = it->second;
        if (finished(b.status.state))
          return make_error(ec::conflict, "build " + id + " has ended (" + b.status.state + ")");
        b.cancel->store(true);
        if (b.status.state == "queued") { // never started: it ends here
          b.status.state = "canceled";
          b.status.finished_ms = now_ms();
          add_line(self, b, 0, "ferry: canceled before it started");
          st.active.erase(b.status.version_id);
          report(self, dir, b);
        } else {
          add_line(self, b, 0, "ferry: canceling");
        }
        return b.status;
      },
      [=](logs_atom, const std::string& id, uint64_t from) -> caf::result<std::vector<log_line>> {
        auto it = self->state.builds.find(id);
        if (it == self->state.builds.end())
          return make_error(ec::not_found, "no build '" + id.substr(0, 64) + "'");
        // The writer has every line sent before this request: it reads them back.
        auto rp = self->make_response_promise<std::vector<log_line>>();
        self->request(self->state.writer, std::chrono::seconds(30), logs_atom::value, id, from)
            .then([rp](std::vector<log_line>& lines) mutable { rp.deliver(std::move(lines)); },
                  [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
      [=](list_atom, const std::string& version) {
        std::vector<build_status> out;
        for (auto& [id, b] : self->state.builds)
          if (b.status.version_id == version)
            out.push_back(b.status);
        std::sort(out.begin(), out.end(),
                  [](auto& a, auto& b) { return a.queued_ms < b.queued_ms; });
        return out;
      },
      [=](line_atom, const std::string& id, log_line& line) {
        auto it = self->state.builds.find(id);
        if (it != self->state.builds.end())
          add_line(self, it->second, line.stream, std::move(line.text));
      },
      [=](done_atom, const std::string& id, const build_status& end) {
        auto& st = self->state;
        auto it = st.builds.find(id);
        if (it == st.builds.end())
          return;
        auto& b = it->second;
        st.running->erase(b.cancel);
        b.status.state = end.state;
        b.status.artifact_root = end.artifact_root;
        b.status.artifact_files = end.artifact_files;
        b.status.artifact_bytes = end.artifact_bytes;
        b.status.error = end.error;
        b.status.finished_ms = now_ms();
        add_line(self, b, 0,
                 "ferry: " + end.state + (end.error.empty() ? "" : ": " + end.error) + " in " +
                     std::to_string(b.status.finished_ms - b.status.started_ms) + " ms");
        st.active.erase(b.status.version_id);
        report(self, dir, b);
        forget_old_logs(self, b.status.project);
        with_slots(self, dir, [slot = b.slot, self](slot_manager_actor slots) {
          self->send(slots, release_atom::value, slot);
        });
        try_start(self, store, dir, cfg);
      },
  };
}

} // namespace

build_scheduler_actor spawn_build_scheduler(caf::actor_system& sys, blob_store_ptr store,
                                            directory_actor directory, build_config config,
                                            std::shared_ptr<build_store> builds) {
  auto earlier = builds->all(); // a short read at start; the actor itself never blocks
  if (earlier)
    for (auto& b : *earlier)
      if (!finished(b.status.state)) // its last lines came after its last status write
        if (auto lines = builds->lines(b.status.id, 0))
          b.status.log_lines = lines->size();
  return sys.spawn(build_scheduler, std::move(store), std::move(directory), std::move(config),
                   builds, earlier ? std::move(*earlier) : std::vector<stored_build>{});
}

} // namespace ferry
