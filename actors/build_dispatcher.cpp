#include "actors/build_dispatcher.hpp"

#include "messages/errors.hpp"
#include "messages/registry.hpp"

#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <memory>

namespace ferry {
namespace {

using self_ptr = build_dispatcher_actor::stateful_pointer<build_dispatcher_state>;
using namespace std::chrono_literals;

constexpr uint32_t max_attempts = 3;

bool ended(const std::string& state) {
  return state == "built" || state == "failed" || state == "canceled";
}

/// Calls f with every live builder of the cluster (this node's first).
template <class F>
void with_builders(self_ptr self, F f) {
  self->request(caf::actor_cast<directory_actor>(self->state.supervisor), 2s, lookup_atom::value,
                all_atom::value, std::string("builder"))
      .then([f](std::vector<located_actor>& all) mutable { f(std::move(all)); },
            [f](caf::error&) mutable { f(std::vector<located_actor>{}); });
}

/// Asks every builder q, and gives done the first answer that is not an
/// error (or the last error): for a build that only one node knows.
template <class R, class... Ts>
void ask_each(self_ptr self, caf::typed_response_promise<R> rp, std::vector<located_actor> all,
              Ts... xs) {
  struct state {
    size_t left;
    bool delivered = false;
    caf::error last;
  };
  if (all.empty()) {
    rp.deliver(make_error(ec::not_found, "no build node knows it"));
    return;
  }
  auto st = std::make_shared<state>(state{all.size(), false, {}});
  for (auto& b : all)
    self->request(caf::actor_cast<build_scheduler_actor>(b.actor), 5s, xs...)
        .then(
            [st, rp](R& r) mutable {
              --st->left;
              if (!st->delivered) {
                st->delivered = true;
                rp.deliver(std::move(r));
              }
            },
            [st, rp](caf::error& e) mutable {
              --st->left;
              if (!st->delivered && (!st->last || code_of(e) != ec::not_found))
                st->last = e;
              if (st->left == 0 && !st->delivered)
                rp.deliver(st->last);
            });
}

/// The id argument of a routed question, pointed at the build that
/// replaced a lost one (other arguments stay as they are).
inline void retarget(std::string& x, const std::string& from, const std::string& to) {
  if (x == from)
    x = to;
}
template <class T>
void retarget(T&, const std::string&, const std::string&) {}

/// Sends a question about build id to the builder that runs it, or to all.
template <class R, class... Ts>
caf::result<R> route(self_ptr self, const std::string& asked, Ts... xs) {
  auto rp = self->make_response_promise<R>();
  std::string id = asked; // (a lost build's question goes to the one in its stead)
  for (int hops = 0; hops < 8 && self->state.moved.count(id); ++hops)
    id = self->state.moved[id];
  if (id != asked)
    std::apply([&](auto&... x) { ((retarget(x, asked, id)), ...); }, std::tie(xs...));
  auto it = self->state.placed.find(id);
  if (it != self->state.placed.end()) {
    self->request(caf::actor_cast<build_scheduler_actor>(it->second.builder), 10s, xs...)
        .then([rp](R& r) mutable { rp.deliver(std::move(r)); },
              [self, rp, xs...](caf::error& e) mutable {
                if (e.category() != caf::atom("system")) {
                  rp.deliver(std::move(e)); // (its answer)
                  return;
                }
                with_builders(self, [self, rp, xs...](std::vector<located_actor> all) mutable {
                  ask_each<R>(self, rp, std::move(all), xs...);
                });
              });
    return rp;
  }
  with_builders(self, [self, rp, xs...](std::vector<located_actor> all) mutable {
    ask_each<R>(self, rp, std::move(all), xs...);
  });
  return rp;
}

/// Places one build: the builder with a free slot that built the project
/// last, else the least loaded; delivers its first status.
void place(self_ptr self, build_spec spec, uint32_t attempt,
           caf::typed_response_promise<build_status> rp, std::string replaces = {}) {
  with_builders(self, [self, spec, attempt, rp, replaces](std::vector<located_actor> all) mutable {
    if (all.empty()) {
      rp.deliver(
          make_error(ec::unavailable, "no node can build: every node with the build role is down"));
      return;
    }
    struct candidate {
      located_actor where;
      build_load load;
      bool answered = false;
    };
    struct gather {
      std::vector<candidate> c;
      size_t left;
    };
    auto g = std::make_shared<gather>();
    for (auto& a : all)
      g->c.push_back(candidate{a, {}, false});
    g->left = g->c.size();
    auto choose = [self, g, spec, attempt, rp, replaces]() mutable {
      auto& st = self->state;
      auto free_of = [](const build_load& l) {
        return static_cast<int64_t>(l.slots) - l.running - l.queued;
      };
      const candidate* best = nullptr;
      auto last = st.last_node.find(spec.project);
      for (auto& c : g->c) {
        if (!c.answered)
          continue;
        if (last != st.last_node.end() && c.where.node == last->second && free_of(c.load) > 0) {
          best = &c; // the dependency cache is there, and a slot is free
          break;
        }
        auto share = [](const build_load& l) {
          return static_cast<double>(l.running + l.queued) / std::max<uint32_t>(1, l.slots);
        };
        if (!best || share(c.load) < share(best->load) ||
            (share(c.load) == share(best->load) && free_of(c.load) > free_of(best->load)))
          best = &c;
      }
      if (!best) {
        rp.deliver(make_error(ec::unavailable, "no build node answered"));
        return;
      }
      auto where = best->where;
      self->request(caf::actor_cast<build_scheduler_actor>(where.actor), 10s, build_atom::value,
                    spec)
          .then(
              [self, where, spec, attempt, rp, replaces](build_status& s) mutable {
                auto& p = self->state.placed[s.id];
                p = placement{spec, where.node, where.actor, attempt};
                if (!replaces.empty())
                  self->state.moved[replaces] = s.id;
                self->monitor(where.actor);
                self->state.last_node[spec.project] = where.node;
                rp.deliver(std::move(s));
              },
              [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
    };
    for (auto& c : g->c)
      self->request(caf::actor_cast<build_scheduler_actor>(c.where.actor), 1s, load_atom::value)
          .then(
              [g, choose, node = c.where.node](build_load& l) mutable {
                for (auto& x : g->c)
                  if (x.where.node == node) {
                    x.load = l;
                    x.answered = true;
                  }
                if (--g->left == 0)
                  choose();
              },
              [g, choose](caf::error&) mutable {
                if (--g->left == 0)
                  choose();
              });
  });
}

/// The builds placed on a node that is gone: each to another node (the
/// registry takes the new build as the version's: the old one's reports
/// are ignored), or failed after the last attempt.
void requeue_from(self_ptr self, const std::function<bool(const placement&)>& lost,
                  const std::string& why) {
  std::vector<std::pair<std::string, placement>> moved;
  for (auto it = self->state.placed.begin(); it != self->state.placed.end();) {
    if (lost(it->second)) {
      moved.emplace_back(it->first, it->second);
      it = self->state.placed.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [id, p] : moved) {
    if (p.attempt >= max_attempts) {
      self->request(caf::actor_cast<directory_actor>(self->state.supervisor), 2s,
                    lookup_atom::value, std::string("registry"))
          .then(
              [self, version = p.spec.version_id, id = id](caf::actor& reg) {
                self->send(caf::actor_cast<registry_actor>(reg), build_atom::value, version,
                           std::string("failed"), id, std::string());
              },
              [](caf::error&) {});
      continue;
    }
    auto spec = p.spec;
    spec.note = "attempt " + std::to_string(p.attempt + 1) + " of " + std::to_string(max_attempts) +
                ": build " + id + " was lost with node " + p.node + " (" + why + ")";
    auto rp = self->make_response_promise<build_status>();
    place(self, spec, p.attempt + 1, rp, id);
  }
}

/// The versions the registry says are being built whose build this
/// dispatcher does not watch (it restarted, with the api node, or the build
/// node went while nobody watched): a builder that runs it is watched from
/// now on; one that no live builder knows is built again.
void reconcile(self_ptr self) {
  self->request(caf::actor_cast<directory_actor>(self->state.supervisor), 2s, lookup_atom::value,
                std::string("registry"))
      .then(
          [self](caf::actor& reg) {
            self->request(caf::actor_cast<registry_actor>(reg), 5s, list_atom::value,
                          build_atom::value)
                .then(
                    [self, reg](std::vector<version_info>& building) {
                      for (auto& v : building) {
                        if (self->state.placed.count(v.build_id) ||
                            self->state.moved.count(v.build_id) || v.root.empty())
                          continue;
                        with_builders(self, [self, v, reg](std::vector<located_actor> all) {
                          if (all.empty())
                            return; // (nobody to build it: the next round)
                          struct gather {
                            size_t left = 0;
                            bool known = false;
                          };
                          auto g = std::make_shared<gather>();
                          g->left = all.size();
                          build_spec spec{v.id, v.project, v.root, false, {}, v.created_by};
                          auto finish = [self, g, spec, id = v.build_id]() mutable {
                            if (g->known || self->state.placed.count(id))
                              return;
                            spec.note = "build " + id +
                                        " of this version was lost while no dispatcher watched "
                                        "it (its node or the api node restarted): built again";
                            auto rp = self->make_response_promise<build_status>();
                            place(self, spec, 2, rp, id);
                          };
                          for (auto& b : all)
                            self->request(caf::actor_cast<build_scheduler_actor>(b.actor), 2s,
                                          get_atom::value, v.build_id)
                                .then(
                                    [self, g, b, spec, finish, reg](build_status& s) mutable {
                                      g->known = true;
                                      if (ended(s.state)) // (its report was lost: again)
                                        self->send(caf::actor_cast<registry_actor>(reg),
                                                   build_atom::value, s.version_id, s.state, s.id,
                                                   s.artifact_root);
                                      else if (!self->state.placed.count(s.id)) {
                                        self->state.placed[s.id] =
                                            placement{spec, b.node, b.actor, 1};
                                        self->monitor(b.actor);
                                      }
                                      if (--g->left == 0)
                                        finish();
                                    },
                                    [g, finish](caf::error&) mutable {
                                      if (--g->left == 0)
                                        finish();
                                    });
                        });
                      }
                    },
                    [](caf::error&) {});
          },
          [](caf::error&) {});
}

build_dispatcher_actor::behavior_type build_dispatcher(self_ptr self, supervisor_actor supervisor) {
  self->state.supervisor = std::move(supervisor);
  self->send(self->state.supervisor, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  // A builder that crashed on a live node is restarted there and reports
  // its builds interrupted; one whose node is gone takes them along: they
  // go elsewhere.
  self->set_down_handler([self](caf::down_msg& dm) {
    if (dm.reason != caf::exit_reason::remote_link_unreachable) {
      std::erase_if(self->state.placed, [&](auto& kv) {
        return kv.second.builder.address() == dm.source; // (asked of every builder from now)
      });
      return;
    }
    requeue_from(
        self, [&](const placement& p) { return p.builder.address() == dm.source; },
        "its connection was lost");
  });
  self->delayed_send(self, 1s, tick_atom::value);
  return {
      [self](build_atom, build_spec& spec) -> caf::result<build_status> {
        if (spec.source_root.empty() || spec.version_id.empty())
          return make_error(ec::bad_request, "a build needs a sealed version");
        auto rp = self->make_response_promise<build_status>();
        for (auto& [id, p] : self->state.placed) { // (never built twice at the same time)
          if (p.spec.version_id != spec.version_id)
            continue;
          // the running build answers; one that ended (and that the tick has
          // not forgotten yet) makes way for the new one
          self->request(caf::actor_cast<build_scheduler_actor>(p.builder), 5s, get_atom::value, id)
              .then(
                  [self, rp, id = id, spec](build_status& s) mutable {
                    if (!ended(s.state)) {
                      rp.deliver(std::move(s));
                      return;
                    }
                    self->state.placed.erase(id);
                    place(self, std::move(spec), 1, rp);
                  },
                  [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
          return rp;
        }
        place(self, std::move(spec), 1, rp);
        return rp;
      },
      [self](get_atom a, std::string& id) { return route<build_status>(self, id, a, id); },
      [self](cancel_atom a, std::string& id) { return route<build_status>(self, id, a, id); },
      [self](logs_atom a, std::string& id, uint64_t from) {
        return route<std::vector<log_line>>(self, id, a, id, from);
      },
      [self](list_atom, std::string& version) -> caf::result<std::vector<build_status>> {
        auto rp = self->make_response_promise<std::vector<build_status>>();
        with_builders(self, [self, rp, version](std::vector<located_actor> all) mutable {
          struct gather {
            std::vector<build_status> out;
            size_t left;
          };
          auto g = std::make_shared<gather>(gather{{}, all.size()});
          auto done = [g, rp]() mutable {
            std::sort(g->out.begin(), g->out.end(),
                      [](auto& x, auto& y) { return x.queued_ms < y.queued_ms; });
            rp.deliver(std::move(g->out));
          };
          if (all.empty())
            return done();
          for (auto& b : all)
            self->request(caf::actor_cast<build_scheduler_actor>(b.actor), 5s, list_atom::value,
                          version)
                .then(
                    [g, done](std::vector<build_status>& some) mutable {
                      g->out.insert(g->out.end(), some.begin(), some.end());
                      if (--g->left == 0)
                        done();
                    },
                    [g, done](caf::error&) mutable {
                      if (--g->left == 0)
                        done();
                    });
        });
        return rp;
      },
      [self](load_atom) -> caf::result<build_load> {
        auto rp = self->make_response_promise<build_load>();
        with_builders(self, [self, rp](std::vector<located_actor> all) mutable {
          auto total = std::make_shared<std::pair<build_load, size_t>>(build_load{}, all.size());
          if (all.empty()) {
            rp.deliver(build_load{});
            return;
          }
          for (auto& b : all)
            self->request(caf::actor_cast<build_scheduler_actor>(b.actor), 1s, load_atom::value)
                .then(
                    [total, rp](build_load& l) mutable {
                      total->first.slots += l.slots;
                      total->first.running += l.running;
                      total->first.queued += l.queued;
                      if (--total->second == 0)
                        rp.deliver(total->first);
                    },
                    [total, rp](caf::error&) mutable {
                      if (--total->second == 0)
                        rp.deliver(total->first);
                    });
        });
        return rp;
      },
      [](line_atom, const std::string&, const log_line&) {},
      [](done_atom, const std::string&, const build_status&) {},
      [](acquire_atom) {},
      [self](members_atom, std::vector<member_status>& nodes) {
        for (auto& n : nodes)
          if (!n.up)
            requeue_from(
                self, [&](const placement& p) { return p.node == n.node; },
                "down for the failure timeout");
      },
      [self](tick_atom) { // forget the builds that ended; every 10 s, reconcile
        self->delayed_send(self, 1s, tick_atom::value);
        if (++self->state.ticks % 10 == 3)
          reconcile(self);
        for (auto& [id, p] : self->state.placed)
          self->request(caf::actor_cast<build_scheduler_actor>(p.builder), 2s, get_atom::value, id)
              .then(
                  [self, id = id](build_status& s) {
                    if (ended(s.state))
                      self->state.placed.erase(id);
                  },
                  [](caf::error&) {});
      },
  };
}

} // namespace

build_dispatcher_actor spawn_build_dispatcher(caf::actor_system& sys, supervisor_actor supervisor) {
  return sys.spawn(build_dispatcher, std::move(supervisor));
}

} // namespace ferry
