#include "deployers/local/local_target.hpp"

#include "messages/errors.hpp"

#include <pthread.h>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <iostream>
#include <thread>
#include <mutex>
#include <map>
#include <functional>
#include <deque>
#include <condition_variable>

namespace ferry {

namespace {

// One actor on the scheduler, which is what the registry and other nodes
// hold (it subscribes to alias changes), and a thread of its own for the
// blocking work (starting instances, reading logs, the core's ticks): each
// job sends its answer back to the actor as a message, and the actor
// answers the request. (Not a detached actor: the actor system's end waits
// for every detached actor to be destroyed, and one that another node had
// dealt with held ferryd's shutdown until its watchdog; DESIGN.md.)

/// One thread running jobs in order; its destructor lets the running job
/// end and drops the others.
class job_thread {
public:
  job_thread() : thread_([this] { run(); }) {}
  ~job_thread() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stop_ = true;
      jobs_.clear();
    }
    wake_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
  }
  /// Jobs waiting (the one running not counted).
  size_t waiting() {
    std::lock_guard<std::mutex> guard{mtx_};
    return jobs_.size();
  }

private:
  void run() {
    pthread_setname_np(pthread_self(), "ferry-runtime");
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock{mtx_};
        wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (stop_)
          return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mtx_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_; // (last: it starts once the rest is there)
};

using job_atom = caf::atom_constant<caf::atom("job")>;

/// The target, and the answers of its jobs: (id, error or none) for warm,
/// alias and remove; (id, page) for logs; (id, text) for list.
using local_target_actor =
    deploy_target_actor::extend<caf::reacts_to<job_atom, uint64_t, caf::error>,
                                caf::reacts_to<job_atom, uint64_t, log_page>,
                                caf::reacts_to<job_atom, uint64_t, std::string, std::string>>;

struct target_state {
  std::shared_ptr<runtime::core> core;
  directory_actor directory;
  caf::actor registry; ///< subscribed to, while alive
  bool subscribing = false;
  uint32_t ticks = 0; ///< reap ticks; every 4th (1 s) re-reads the alias table
  std::chrono::steady_clock::time_point last_tick;
  bool ticking = false; ///< a tick is queued or running (never two)
  uint64_t next_job = 0;
  std::map<uint64_t, caf::typed_response_promise<bool>> done; ///< warm, alias, remove
  std::map<uint64_t, caf::typed_response_promise<log_page>> pages;
  std::map<uint64_t, caf::typed_response_promise<std::string>> texts;
  std::unique_ptr<job_thread> jobs; ///< (last: ends first, while the rest is there)
  static inline const char* name = "runtime";
};

using self_ptr = local_target_actor::stateful_pointer<target_state>;

/// Subscribes to the registry's alias changes, which answers with the
/// whole table. Again every second even when subscribed (resync): a
/// notice lost with a connection that broke and came back is made up for,
/// and the table's lease (runtime::core::alias_lease_ms) renewed. (The
/// registry keeps one subscription per actor.)
void subscribe(self_ptr self, bool resync = false) {
  auto& st = self->state;
  if ((st.registry && !resync) || st.subscribing)
    return;
  st.subscribing = true;
  self->request(st.directory, std::chrono::seconds(5), lookup_atom::value, std::string("registry"))
      .then(
          [self](caf::actor& reg) {
            self->request(reg, std::chrono::seconds(5), subscribe_atom::value,
                          caf::actor_cast<caf::actor>(self))
                .then(
                    [self, reg](std::vector<alias_info>& all) {
                      self->state.subscribing = false;
                      if (self->state.registry != reg) {
                        if (self->state.registry)
                          self->demonitor(self->state.registry);
                        self->state.registry = reg;
                        self->monitor(reg);
                      }
                      self->state.core->set_aliases(all);
                      self->state.core->aliases_confirmed();
                    },
                    [self](caf::error&) {
                      self->state.subscribing = false;
                      self->state.core->registry_unreachable();
                    });
          },
          [self](caf::error&) {
            self->state.subscribing = false;
            self->state.core->registry_unreachable();
          });
}

/// Runs work on the job thread; its error (or none) comes back to the
/// actor, which answers with true or the error.
caf::result<bool> run_job(self_ptr self, std::function<caf::error(runtime::core&)> work) {
  auto id = self->state.next_job++;
  auto rp = self->make_response_promise<bool>();
  self->state.done.emplace(id, rp);
  self->state.jobs->post([me = caf::actor_cast<caf::actor>(self), core = self->state.core, id,
                          work = std::move(work)] {
    caf::error error;
    try {
      error = work(*core);
    } catch (const std::exception& e) {
      error = make_error(ec::unavailable, std::string("the runtime failed: ") + e.what());
    }
    caf::anon_send(me, job_atom::value, id, std::move(error));
  });
  return rp;
}

local_target_actor::behavior_type local_target(self_ptr self, std::shared_ptr<runtime::core> core,
                                               directory_actor directory) {
  self->state.core = std::move(core);
  self->state.directory = std::move(directory);
  self->state.jobs = std::make_unique<job_thread>();
  self->set_down_handler([self](caf::down_msg& dm) {
    if (dm.source == self->state.registry.address())
      self->state.registry = nullptr; // subscribe again on the next tick
  });
  subscribe(self);
  self->send(self, reap_atom::value);
  return {
      [self](warm_atom, std::string& id, std::string& env) {
        return run_job(self, [id, env](runtime::core& c) { return c.warm(id, env); });
      },
      [self](alias_atom, alias_info& a) {
        return run_job(self, [a](runtime::core& c) {
          c.apply_alias(a);
          c.aliases_confirmed();
          return caf::error{};
        });
      },
      [self](remove_atom, std::string& id) {
        return run_job(self, [id](runtime::core& c) {
          c.remove(id);
          return caf::error{};
        });
      },
      [self](logs_atom, std::string& id, uint64_t from) -> caf::result<log_page> {
        auto job = self->state.next_job++;
        auto rp = self->make_response_promise<log_page>();
        self->state.pages.emplace(job, rp);
        self->state.jobs->post(
            [me = caf::actor_cast<caf::actor>(self), core = self->state.core, job, id, from] {
              log_page page;
              page.lines = core->logs().read(id, from, 1000, page.next);
              caf::anon_send(me, job_atom::value, job, std::move(page));
            });
        return rp;
      },
      [self](list_atom) -> caf::result<std::string> {
        auto job = self->state.next_job++;
        auto rp = self->make_response_promise<std::string>();
        self->state.texts.emplace(job, rp);
        self->state.jobs->post(
            [me = caf::actor_cast<caf::actor>(self), core = self->state.core, job] {
              caf::anon_send(me, job_atom::value, job, std::string("text"), core->status());
            });
        return rp;
      },
      [self](reap_atom) { // every 250 ms: the core's tick (one at a time), the subscription
        self->delayed_send(self, std::chrono::milliseconds(250), reap_atom::value);
        // a tick far later than asked: this process was stopped meanwhile
        auto now = std::chrono::steady_clock::now();
        if (self->state.last_tick.time_since_epoch().count() != 0 &&
            now - self->state.last_tick >
                std::chrono::milliseconds(runtime::core::alias_lease_ms - 1000)) {
          self->state.core->was_frozen();
          self->state.ticks = 3; // (resync at once)
        }
        self->state.last_tick = now;
        subscribe(self, ++self->state.ticks % 4 == 0);
        if (self->state.ticking)
          return;
        self->state.ticking = true;
        self->state.jobs->post([me = caf::actor_cast<caf::actor>(self), core = self->state.core] {
          try {
            core->tick();
          } catch (const std::exception& e) { // the next tick tries again
            std::cerr << "ferryd: runtime: " << e.what() << "\n";
          }
          caf::anon_send(me, job_atom::value, uint64_t{0} - 1, std::string("tick"), std::string());
        });
      },
      [self](job_atom, uint64_t id, caf::error& error) {
        auto it = self->state.done.find(id);
        if (it == self->state.done.end())
          return;
        if (!error)
          it->second.deliver(true);
        else
          it->second.deliver(std::move(error));
        self->state.done.erase(it);
      },
      [self](job_atom, uint64_t id, log_page& page) {
        auto it = self->state.pages.find(id);
        if (it == self->state.pages.end())
          return;
        it->second.deliver(std::move(page));
        self->state.pages.erase(it);
      },
      [self](job_atom, uint64_t id, std::string& kind, std::string& text) {
        if (kind == "tick") {
          self->state.ticking = false;
          return;
        }
        auto it = self->state.texts.find(id);
        if (it == self->state.texts.end())
          return;
        it->second.deliver(std::move(text));
        self->state.texts.erase(it);
      },
  };
}

} // namespace

deploy_target_actor spawn_local_target(caf::actor_system& sys, std::shared_ptr<runtime::core> core,
                                       directory_actor directory) {
  return caf::actor_cast<deploy_target_actor>(
      sys.spawn(local_target, std::move(core), std::move(directory)));
}

namespace {

/// Asks the registry (looked up by name) and waits.
template <class R, class... Ts>
caf::expected<R> ask_registry(caf::actor_system& sys, const directory_actor& dir, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<R> out{make_error(ec::unavailable, "the registry did not answer")};
  self->request(dir, std::chrono::seconds(5), lookup_atom::value, std::string("registry"))
      .receive(
          [&](caf::actor& reg) {
            self->request(caf::actor_cast<registry_actor>(reg), std::chrono::seconds(10),
                          std::forward<Ts>(xs)...)
                .receive([&](R& r) { out = std::move(r); },
                         [&](caf::error& e) { out = std::move(e); });
          },
          [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace

runtime::resolver registry_resolver(caf::actor_system& sys, directory_actor directory) {
  return [&sys, directory](const std::string& id) {
    return ask_registry<deployment_ref>(sys, directory, resolve_atom::value, id);
  };
}

runtime::env_source registry_env_source(caf::actor_system& sys, directory_actor directory) {
  return [&sys, directory](const runtime::deployment& dep, const std::string& environment) {
    return ask_registry<std::vector<std::string>>(sys, directory, secrets_atom::value,
                                                  principal{dep.owner, false}, dep.id, environment);
  };
}

} // namespace ferry
