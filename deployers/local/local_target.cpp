#include "deployers/local/local_target.hpp"

#include "messages/errors.hpp"

#include <pthread.h>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <iostream>

namespace ferry {

namespace {

// Two actors: a front on the scheduler, which is what the registry and
// other nodes hold (it subscribes to alias changes), and a detached worker
// behind it for the blocking work (starting instances, reading logs). A
// detached actor that other nodes hold a handle to is never destroyed
// before the actor system ends, and would hold up its shutdown.

struct worker_state {
  std::shared_ptr<runtime::core> core;
  static inline const char* name = "runtime-worker";
};

deploy_target_actor::behavior_type runtime_worker(
    deploy_target_actor::stateful_pointer<worker_state> self, std::shared_ptr<runtime::core> core) {
  self->state.core = std::move(core);
  pthread_setname_np(pthread_self(), "ferry-runtime");
  auto& st = self->state;
  return {
      [&st](warm_atom, const std::string& id, const std::string& env) -> caf::result<bool> {
        try { // an answer in every case: the API waits for it
          if (auto err = st.core->warm(id, env))
            return err;
          return true;
        } catch (const std::exception& e) {
          return make_error(ec::unavailable, "warming " + id + " failed: " + e.what());
        }
      },
      [&st](alias_atom, const alias_info& a) {
        st.core->apply_alias(a);
        return true;
      },
      [&st](remove_atom, const std::string& id) {
        st.core->remove(id);
        return true;
      },
      [&st](logs_atom, const std::string& id, uint64_t from) {
        log_page page;
        page.lines = st.core->logs().read(id, from, 1000, page.next);
        return page;
      },
      [&st](list_atom) { return st.core->status(); },
      [self](reap_atom) { // (sent by the front every 250 ms)
        try {
          self->state.core->tick();
        } catch (const std::exception& e) { // the next tick tries again
          std::cerr << "ferryd: runtime: " << e.what() << "\n";
        }
      },
  };
}

struct target_state {
  std::shared_ptr<runtime::core> core;
  directory_actor directory;
  deploy_target_actor worker;
  caf::actor registry; ///< subscribed to, while alive
  bool subscribing = false;
  static inline const char* name = "runtime";
};

using self_ptr = deploy_target_actor::stateful_pointer<target_state>;

void subscribe(self_ptr self) {
  auto& st = self->state;
  if (st.registry || st.subscribing)
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
                      self->state.registry = reg;
                      self->monitor(reg);
                      self->state.core->set_aliases(all);
                    },
                    [self](caf::error&) { self->state.subscribing = false; });
          },
          [self](caf::error&) { self->state.subscribing = false; });
}

deploy_target_actor::behavior_type local_target(self_ptr self, std::shared_ptr<runtime::core> core,
                                                directory_actor directory) {
  self->state.core = core;
  self->state.directory = std::move(directory);
  self->state.worker = self->spawn<caf::detached + caf::linked>(runtime_worker, std::move(core));
  self->set_down_handler([self](caf::down_msg& dm) {
    if (dm.source == self->state.registry.address())
      self->state.registry = nullptr; // subscribe again on the next tick
  });
  subscribe(self);
  self->send(self, reap_atom::value);
  return {
      [self](warm_atom a, std::string& id, std::string& env) {
        return self->delegate(self->state.worker, a, std::move(id), std::move(env));
      },
      [self](alias_atom a, alias_info& x) { return self->delegate(self->state.worker, a, x); },
      [self](remove_atom a, std::string& id) {
        return self->delegate(self->state.worker, a, std::move(id));
      },
      [self](logs_atom a, std::string& id, uint64_t from) {
        return self->delegate(self->state.worker, a, std::move(id), from);
      },
      [self](list_atom a) { return self->delegate(self->state.worker, a); },
      [self](reap_atom) {
        // The front keeps the clock: a timer a detached actor sets on itself
        // holds it past the end of the actor system's clock, and with it the
        // shutdown (it waits for every detached actor to be destroyed).
        self->delayed_send(self, std::chrono::milliseconds(250), reap_atom::value);
        self->send(self->state.worker, reap_atom::value);
        subscribe(self);
      },
  };
}

} // namespace

deploy_target_actor spawn_local_target(caf::actor_system& sys, std::shared_ptr<runtime::core> core,
                                       directory_actor directory) {
  return sys.spawn(local_target, std::move(core), std::move(directory));
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
  return [&sys, directory](const std::string& project, const std::string& environment) {
    return ask_registry<std::vector<std::string>>(sys, directory, secrets_atom::value, project,
                                                  environment);
  };
}

} // namespace ferry
