#include "actors/node_supervisor.hpp"

#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>

#include <iostream>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <random>

namespace ferry {
namespace {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

constexpr int64_t min_backoff_ms = 100;
constexpr int64_t max_backoff_ms = 5000;
constexpr int64_t stable_after_ms = 10000;

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

uint64_t new_incarnation() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32 | rd()) | 1; // never 0 (0: not heard of)
}

} // namespace

supervisor_actor::behavior_type node_supervisor(
    supervisor_actor::stateful_pointer<supervisor_state> self, std::string node,
    std::vector<child_spec> children, std::vector<peer_spec> peers, cluster_view_ptr view,
    supervisor_options opts) {
  auto& st = self->state;
  st.node = std::move(node);
  st.incarnation = new_incarnation();
  st.children = std::move(children);
  st.peers = std::move(peers);
  st.view = std::move(view);
  st.opts = opts;
  st.view->update(st.node, [&](cluster_view::node& n) {
    n.up = true;
    n.incarnation = st.incarnation;
    n.since_ms = n.seen_ms = now_ms();
    // (not its own handle: the view lives in this actor's state, and a
    // cycle would keep the actor, and the children it holds, from ending)
  });
  // when each peer was last heard of (steady clock), for the failure timeout
  auto heard = std::make_shared<std::map<std::string, int64_t>>();
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
  auto notify = [self] {
    auto members = self->state.view->members();
    for (auto& s : self->state.subscribers)
      caf::anon_send(s, members_atom::value, members);
  };
  // a peer goes down: its connection is lost, or it is unheard of too long
  auto went_down = [self, notify](const std::string& peer_node) {
    bool was_up = self->state.view->is_up(peer_node);
    self->state.view->update(peer_node, [](cluster_view::node& n) {
      if (n.up)
        n.since_ms = now_ms();
      n.up = false;
    });
    if (was_up)
      notify();
  };
  auto connect = [self](const std::string& peer_node) {
    for (auto& p : self->state.peers) {
      if (p.node != peer_node || p.directory || p.connecting || !p.dial)
        continue;
      p.connecting = true;
      // TLS when the node has its certificates (every multi-node cluster)
      auto& sys = self->system();
      auto mm = sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                          : sys.middleman().actor_handle();
      self->request(mm, std::chrono::seconds(2), caf::connect_atom::value, p.host, p.port)
          .then(
              [self, peer_node](const caf::node_id&, caf::strong_actor_ptr& ptr,
                                const std::set<std::string>&) {
                for (auto& q : self->state.peers)
                  if (q.node == peer_node) {
                    q.connecting = false;
                    if (!ptr) {
                      self->delayed_send(self, std::chrono::milliseconds(500), peer_atom::value,
                                         peer_node);
                      continue;
                    }
                    q.last_error.clear();
                    q.directory = caf::actor_cast<caf::actor>(ptr);
                    self->monitor(q.directory);
                    self->state.view->update(
                        peer_node, [&](cluster_view::node& n) { n.directory = q.directory; });
                    // say so at once: the peer need not wait a tick to see us
                    self->send(caf::actor_cast<directory_actor>(q.directory), heartbeat_atom::value,
                               self->state.node, self->state.incarnation);
                  }
              },
              [self, peer_node](caf::error& err) {
                auto why = self->system().render(err);
                bool repeated = false;
                for (auto& q : self->state.peers)
                  if (q.node == peer_node) {
                    q.connecting = false;
                    if (why.find("handshake") != std::string::npos)
                      why +=
                          " (the TLS handshake failed: do both nodes have certificates of "
                          "the same cluster CA?)";
                    repeated = q.last_error == why;
                    if (!repeated) // once per reason, not every half second
                      std::cerr << "ferryd: cannot reach node " << peer_node << " at " << q.host
                                << ":" << q.port << ": " << why << "\n";
                    q.last_error = why;
                  }
                self->delayed_send(self, std::chrono::milliseconds(repeated ? 2000 : 500),
                                   peer_atom::value, peer_node);
              });
    }
  };
  for (auto& p : st.peers)
    connect(p.node);
  auto beat = std::chrono::milliseconds(std::max<int64_t>(50, opts.failure_timeout_ms / 4));
  self->delayed_send(self, beat, tick_atom::value);
  // Children are monitored, not linked: in CAF an exit with reason `kill`
  // from a linked actor is fatal even to an actor that traps exits. When the
  // supervisor ends, it takes its children along.
  self->attach_functor([live, view = st.view](const caf::error&) {
    for (auto& [name, child] : *live)
      caf::anon_send_exit(child, caf::exit_reason::user_shutdown);
    live->clear();
    for (auto& n : view->nodes()) // (nothing outlives the actor system through the view)
      view->update(n.name, [](cluster_view::node& x) { x.directory = nullptr; });
  });
  self->set_down_handler([self, went_down](caf::down_msg& dm) {
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
        self->state.view->update(p.node, [](cluster_view::node& n) { n.directory = nullptr; });
        went_down(p.node);
        self->delayed_send(self, std::chrono::milliseconds(500), peer_atom::value, p.node);
      }
    }
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const caf::actor& a) { return a.address() == dm.source; }),
               subs.end());
  });
  return {
      [self](lookup_atom a, std::string& name) -> caf::result<caf::actor> {
        for (auto& c : self->state.children)
          if (c.name == name) {
            if (!c.current)
              return make_error(ec::unavailable, "actor '" + name + "' is restarting");
            return c.current;
          }
        std::string down;
        for (auto& p : self->state.peers)
          for (auto& n : p.actors)
            if (n == name) {
              if (!p.directory || !self->state.view->is_up(p.node)) {
                down += (down.empty() ? "" : ", ") + p.node;
                continue;
              }
              return self->delegate(caf::actor_cast<directory_actor>(p.directory), a,
                                    std::move(name));
            }
        if (!down.empty())
          return make_error(ec::unavailable,
                            "every node that runs '" + name + "' is down (" + down + ")");
        return make_error(ec::not_found, "no actor '" + name + "' in this cluster");
      },
      [self](lookup_atom, all_atom, std::string& name) -> caf::result<std::vector<located_actor>> {
        struct gather {
          std::vector<located_actor> found;
          size_t left = 0;
        };
        auto g = std::make_shared<gather>();
        for (auto& c : self->state.children)
          if (c.name == name && c.current)
            g->found.push_back(located_actor{self->state.node, c.current});
        std::vector<std::string> order; // (cluster.conf's, this node first)
        order.push_back(self->state.node);
        for (auto& p : self->state.peers)
          order.push_back(p.node);
        auto rp = self->make_response_promise<std::vector<located_actor>>();
        auto done = [g, rp, order]() mutable {
          auto rank = [&](const std::string& n) {
            return std::find(order.begin(), order.end(), n) - order.begin();
          };
          std::sort(g->found.begin(), g->found.end(),
                    [&](auto& x, auto& y) { return rank(x.node) < rank(y.node); });
          rp.deliver(std::move(g->found));
        };
        auto timeout = std::chrono::milliseconds(self->state.opts.failure_timeout_ms);
        for (auto& p : self->state.peers) {
          if (!p.directory || !self->state.view->is_up(p.node) ||
              std::find(p.actors.begin(), p.actors.end(), name) == p.actors.end())
            continue;
          ++g->left;
          self->request(caf::actor_cast<directory_actor>(p.directory), timeout, lookup_atom::value,
                        name)
              .then(
                  [g, done, peer = p.node](caf::actor& a) mutable {
                    g->found.push_back(located_actor{peer, std::move(a)});
                    if (--g->left == 0)
                      done();
                  },
                  [g, done](caf::error&) mutable {
                    if (--g->left == 0)
                      done();
                  });
        }
        if (g->left == 0)
          done();
        return rp;
      },
      [self](list_atom) {
        std::vector<actor_status> out;
        for (auto& c : self->state.children)
          out.push_back(actor_status{c.name, self->state.node, static_cast<bool>(c.current),
                                     c.restarts, c.since_ms});
        for (auto& p : self->state.peers)
          for (auto& n : p.actors)
            out.push_back(
                actor_status{n, p.node, p.directory && self->state.view->is_up(p.node), 0, 0});
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
      [self](members_atom) { return self->state.view->members(); },
      [self, heard, notify](heartbeat_atom, const std::string& peer_node, uint64_t incarnation) {
        peer_spec* peer = nullptr;
        for (auto& p : self->state.peers)
          if (p.node == peer_node)
            peer = &p;
        if (!peer)
          return; // (not a node of our cluster.conf)
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!peer->dial && sender && sender != peer->directory) {
          // the peer dialed us (first, or after it restarted): its directory
          if (peer->directory)
            self->demonitor(peer->directory);
          peer->directory = sender;
          self->monitor(sender);
          self->state.view->update(peer_node, [&](cluster_view::node& n) { n.directory = sender; });
          self->send(caf::actor_cast<directory_actor>(sender), heartbeat_atom::value,
                     self->state.node, self->state.incarnation);
        }
        (*heard)[peer_node] = steady_ms();
        bool changed = false;
        self->state.view->update(peer_node, [&](cluster_view::node& n) {
          changed = !n.up || n.incarnation != incarnation;
          if (!n.up)
            n.since_ms = now_ms();
          n.up = true;
          n.incarnation = incarnation;
          n.seen_ms = now_ms();
        });
        if (changed)
          notify();
      },
      [self, heard, went_down, beat](tick_atom) {
        auto& st = self->state;
        for (auto& p : st.peers)
          if (p.directory)
            self->send(caf::actor_cast<directory_actor>(p.directory), heartbeat_atom::value,
                       st.node, st.incarnation);
        auto now = steady_ms();
        for (auto& p : st.peers) {
          auto it = heard->find(p.node);
          if (st.view->is_up(p.node) &&
              (it == heard->end() || now - it->second > st.opts.failure_timeout_ms))
            went_down(p.node);
        }
        self->delayed_send(self, beat, tick_atom::value);
      },
      [self, start](restart_atom, const std::string& name) {
        for (auto& c : self->state.children)
          if (c.name == name && !c.current) {
            c.restarts++;
            start(c);
          }
      },
      [connect](peer_atom, const std::string& peer_node) { connect(peer_node); },
      [self](subscribe_atom, caf::actor& who) {
        self->monitor(who);
        caf::anon_send(who, members_atom::value, self->state.view->members());
        self->state.subscribers.push_back(std::move(who));
      },
  };
}

supervisor_actor spawn_node_supervisor(caf::actor_system& sys, std::string node,
                                       std::vector<child_spec> children,
                                       std::vector<peer_spec> peers, cluster_view_ptr view,
                                       supervisor_options opts) {
  return sys.spawn(node_supervisor, std::move(node), std::move(children), std::move(peers),
                   std::move(view), opts);
}

} // namespace ferry
