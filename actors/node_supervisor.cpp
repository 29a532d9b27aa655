#include "actors/node_supervisor.hpp"

#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <map>
#include <memory>

namespace ferry {
namespace {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

constexpr int64_t min_backoff_ms = 100;
constexpr int64_t max_backoff_ms = 5000;
constexpr int64_t stable_after_ms = 10000;

} // namespace

supervisor_actor::behavior_type node_supervisor(
    supervisor_actor::stateful_pointer<supervisor_state> self, std::string node,
    std::vector<child_spec> children, std::vector<peer_spec> peers) {
  auto& st = self->state;
  st.node = std::move(node);
  st.children = std::move(children);
  st.peers = std::move(peers);
  // The running children, shared with the exit functor (which runs after
  // the state is gone).
  auto live = std::make_shared<std::map<std::string, caf::actor>>();
  auto start = [self, live](child_spec& c) {
    c.current = c.spawn(caf::actor_cast<directory_actor>(self));
    (*live)[c.name] = c.current;
    c.since_ms = now_ms();
    self->monitor(c.current);
  };
  for (auto& c : st.children)
    start(c);
  auto connect = [self](const std::string& peer_node) {
    for (auto& p : self->state.peers) {
      if (p.node != peer_node)
        continue;
      auto mm = self->system().middleman().actor_handle();
      self->request(mm, std::chrono::seconds(2), caf::connect_atom::value, p.host, p.port)
          .then(
              [self, peer_node](const caf::node_id&, caf::strong_actor_ptr& ptr,
                                const std::set<std::string>&) {
                for (auto& q : self->state.peers)
                  if (q.node == peer_node && ptr) {
                    q.directory = caf::actor_cast<caf::actor>(ptr);
                    self->monitor(q.directory);
                  }
              },
              [self, peer_node](caf::error&) {
                self->delayed_send(self, std::chrono::milliseconds(500), peer_atom::value,
                                   peer_node);
              });
    }
  };
  for (auto& p : st.peers)
    connect(p.node);
  // Children are monitored, not linked: in CAF an exit with reason `kill`
  // from a linked actor is fatal even to an actor that traps exits. When the
  // supervisor ends, it takes its children along.
  self->attach_functor([live](const caf::error&) {
    for (auto& [name, child] : *live)
      caf::anon_send_exit(child, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    for (auto& c : self->state.children) {
      if (c.current && c.current.address() == dm.source) {
        c.current = nullptr;
        bool stable = now_ms() - c.since_ms > stable_after_ms;
        c.backoff_ms = stable || c.backoff_ms == 0 ? min_backoff_ms
                                                   : std::min(c.backoff_ms * 2, max_backoff_ms);
        self->delayed_send(self, std::chrono::milliseconds(c.backoff_ms), restart_atom::value,
                           c.name);
        return;
      }
    }
    for (auto& p : self->state.peers) {
      if (p.directory && p.directory.address() == dm.source) {
        p.directory = nullptr;
        self->delayed_send(self, std::chrono::milliseconds(500), peer_atom::value, p.node);
      }
    }
  });
  return {
      [self](lookup_atom a, std::string& name) -> caf::result<caf::actor> {
        for (auto& c : self->state.children)
          if (c.name == name) {
            if (!c.current)
              return make_error(ec::unavailable, "actor '" + name + "' is restarting");
            return c.current;
          }
        for (auto& p : self->state.peers)
          for (auto& n : p.actors)
            if (n == name) {
              if (!p.directory)
                return make_error(ec::unavailable,
                                  "node '" + p.node + "' (" + name + ") is not reachable");
              return self->delegate(caf::actor_cast<directory_actor>(p.directory), a,
                                    std::move(name));
            }
        return make_error(ec::not_found, "no actor '" + name + "' in this cluster");
      },
      [self](list_atom) {
        std::vector<actor_status> out;
        for (auto& c : self->state.children)
          out.push_back(actor_status{c.name, self->state.node, static_cast<bool>(c.current),
                                     c.restarts, c.since_ms});
        for (auto& p : self->state.peers)
          for (auto& n : p.actors)
            out.push_back(actor_status{n, p.node, static_cast<bool>(p.directory), 0, 0});
        return out;
      },
      [self](kill_atom, const std::string& name) {
        for (auto& c : self->state.children)
          if (c.name == name && c.current) {
            self->send_exit(c.current, caf::exit_reason::kill);
            return true;
          }
        return false;
      },
      [self, start](restart_atom, const std::string& name) {
        for (auto& c : self->state.children)
          if (c.name == name && !c.current) {
            c.restarts++;
            start(c);
          }
      },
      [connect](peer_atom, const std::string& peer_node) { connect(peer_node); },
  };
}

supervisor_actor spawn_node_supervisor(caf::actor_system& sys, std::string node,
                                       std::vector<child_spec> children,
                                       std::vector<peer_spec> peers) {
  return sys.spawn(node_supervisor, std::move(node), std::move(children), std::move(peers));
}

} // namespace ferry
