#include "actors/repairer.hpp"

#include "actors/replicated_store.hpp"
#include "actors/blocking_ask.hpp"
#include "messages/errors.hpp"
#include "storage/sha256.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace ferry {

namespace {

constexpr uint8_t kSlices = 16;         // of each namespace, by the first hash byte
constexpr size_t kBatchBytes = 8 << 20; // one put to a peer
constexpr size_t kBatchBlobs = 512;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The hashes of one slice of the replica that node a and node b should
/// both hold.
caf::expected<std::vector<std::string>> shared_slice(blob_store& replica, const cluster_view& view,
                                                     uint32_t replicas, uint8_t ns, uint8_t slice,
                                                     const std::string& a, const std::string& b) {
  auto all = replica.list_range(ns, static_cast<uint8_t>(slice * 16),
                                static_cast<uint8_t>(slice * 16 + 15));
  if (!all)
    return all.error();
  auto nodes = view.with_role("storage");
  std::vector<std::string> out;
  for (auto& h : *all) {
    auto holders = holders_of(nodes, replicas, ns, h);
    if (std::find(holders.begin(), holders.end(), a) != holders.end() &&
        std::find(holders.begin(), holders.end(), b) != holders.end())
      out.push_back(std::move(h));
  }
  return out;
}

/// What the actor and its thread share.
struct repair_shared {
  std::mutex mtx;
  std::condition_variable wake;
  bool stop = false;
  bool requested = false;
  repair_status status;
  std::deque<std::function<void()>> jobs; ///< sweeps, run between passes
};

/// The thread that runs the passes.
class repair_worker {
public:
  repair_worker(caf::actor_system& sys, cluster_view_ptr view, blob_store_ptr replica,
                repairer_options opts, std::shared_ptr<repair_shared> sh)
      : sys_(sys),
        view_(std::move(view)),
        replica_(std::move(replica)),
        opts_(opts),
        sh_(std::move(sh)),
        thread_([this] { run(); }) {}

  ~repair_worker() {
    {
      std::lock_guard<std::mutex> g{sh_->mtx};
      sh_->stop = true;
    }
    sh_->wake.notify_all();
    thread_.join();
  }

private:
  void run() {
    pthread_setname_np(pthread_self(), "ferry-repair");
    while (true) {
      {
        std::unique_lock<std::mutex> g{sh_->mtx};
        sh_->wake.wait_for(g, opts_.interval,
                           [&] { return sh_->stop || sh_->requested || !sh_->jobs.empty(); });
        if (sh_->stop)
          return;
        if (!sh_->jobs.empty()) {
          auto job = std::move(sh_->jobs.front());
          sh_->jobs.pop_front();
          g.unlock();
          job();
          continue;
        }
        sh_->requested = false;
      }
      pass();
    }
  }

  bool stopping() {
    std::lock_guard<std::mutex> g{sh_->mtx};
    return sh_->stop;
  }

  template <class F>
  void update(F&& f) {
    std::lock_guard<std::mutex> g{sh_->mtx};
    f(sh_->status);
  }

  /// An actor of a peer, by name, through the peer's directory.
  template <class Handle>
  caf::expected<Handle> actor_on(const std::string& node, const std::string& name) {
    auto n = view_->find(node);
    if (!n || !n->up || !n->directory)
      return make_error(ec::unavailable, "node " + node + " is down");
    auto found = blocking_ask<caf::actor>(sys_, caf::actor_cast<directory_actor>(n->directory),
                                          opts_.request_timeout, lookup_atom::value, name);
    if (!found)
      return found.error();
    return caf::actor_cast<Handle>(*found);
  }

  /// Copies these blobs of the replica to the peer's store, batch by
  /// batch, no faster than the rate.
  caf::error copy_to(const cas_actor& store, uint8_t ns, const std::vector<std::string>& hashes) {
    put_blobs batch;
    batch.copy = true; // (a copy: it does not keep a blob from a sweep)
    size_t bytes = 0;
    auto flush = [&]() -> caf::error {
      if (batch.blobs.empty())
        return {};
      auto n = batch.blobs.size();
      auto ack = blocking_ask<put_ack>(
          sys_, store, std::max(opts_.request_timeout, std::chrono::milliseconds(30000)),
          put_atom::value, std::move(batch));
      batch = put_blobs{};
      batch.copy = true;
      if (!ack)
        return ack.error();
      update([&](repair_status& s) {
        s.copied += n;
        s.copied_total += n;
        s.copied_bytes += bytes;
      });
      pace(bytes);
      bytes = 0;
      return {};
    };
    for (auto& h : hashes) {
      if (stopping())
        return make_error(ec::unavailable, "stopping");
      auto data = replica_->get(blob_ref{ns, h});
      if (!data) {
        if (code_of(data.error()) == ec::not_found)
          continue; // (gone since the slice was listed)
        return data.error();
      }
      bytes += data->size();
      batch.blobs.push_back(blob{ns, h, std::move(*data)});
      if (bytes >= kBatchBytes || batch.blobs.size() >= kBatchBlobs)
        if (auto err = flush())
          return err;
    }
    return flush();
  }

  /// Sleeps as long as copying bytes takes at the rate (waking on stop).
  void pace(size_t bytes) {
    if (!opts_.bytes_per_s)
      return;
    auto ms = std::chrono::milliseconds(bytes * 1000 / opts_.bytes_per_s);
    std::unique_lock<std::mutex> g{sh_->mtx};
    sh_->wake.wait_for(g, ms, [&] { return sh_->stop; });
  }

  /// Runs the sweeps waiting (between slices of a pass: a long, paced pass
  /// does not hold a collection back).
  void run_jobs() {
    while (true) {
      std::function<void()> job;
      {
        std::lock_guard<std::mutex> g{sh_->mtx};
        if (sh_->jobs.empty() || sh_->stop)
          return;
        job = std::move(sh_->jobs.front());
        sh_->jobs.pop_front();
      }
      job();
    }
  }

  void pass() {
    auto t0 = std::chrono::steady_clock::now();
    const auto me = view_->self();
    update([&](repair_status& s) {
      s.running = true;
      s.ranges_done = 0;
      s.ranges_total = blob_ns_count * kSlices;
      s.checked = s.copied = s.copied_bytes = 0;
    });
    std::string trouble;
    std::set<std::string> gave_up; // peers that failed this pass
    std::map<std::string, std::pair<repairer_actor, cas_actor>> handles;
    for (uint8_t ns = 0; ns < blob_ns_count && !stopping(); ++ns) {
      for (uint8_t slice = 0; slice < kSlices && !stopping(); ++slice) {
        run_jobs();
        auto nodes = view_->with_role("storage");
        auto mine = replica_->list_range(ns, static_cast<uint8_t>(slice * 16),
                                         static_cast<uint8_t>(slice * 16 + 15));
        if (!mine) {
          trouble = "this replica: " + reason_of(mine.error());
          continue;
        }
        update([&](repair_status& s) { s.checked += mine->size(); });
        // blobs this node holds for others (written while a holder was down)
        std::map<std::string, std::vector<std::string>> handoff;
        for (auto& h : *mine) {
          auto holders = holders_of(nodes, opts_.replicas, ns, h);
          if (std::find(holders.begin(), holders.end(), me) == holders.end())
            for (auto& n : holders)
              handoff[n].push_back(h);
        }
        for (auto& peer : view_->up_with_role("storage")) {
          if (peer == me || gave_up.count(peer))
            continue;
          auto fail = [&](const std::string& what, const caf::error& e) {
            trouble = peer + ": " + what + ": " + reason_of(e);
            gave_up.insert(peer);
          };
          auto found = handles.find(peer);
          if (found == handles.end()) { // (looked up once a pass)
            auto r = actor_on<repairer_actor>(peer, "repairer");
            auto st = actor_on<cas_actor>(peer, "store");
            if (!r || !st) {
              fail("lookup", !r ? r.error() : st.error());
              continue;
            }
            found = handles.emplace(peer, std::make_pair(*r, *st)).first;
          }
          auto* repairer = &found->second.first;
          auto* store = &found->second.second;
          // what both should hold: compare digests, then lists
          auto ours = shared_slice(*replica_, *view_, opts_.replicas, ns, slice, me, peer);
          if (!ours) {
            trouble = "this replica: " + reason_of(ours.error());
            continue;
          }
          auto theirs =
              blocking_ask<range_digest>(sys_, *repairer, opts_.request_timeout, repair_atom::value,
                                         digest_atom::value, ns, slice, me);
          if (!theirs) {
            fail("digest", theirs.error());
            continue;
          }
          auto d = digest_of(*ours);
          if (theirs->count != d.count || theirs->xor_hash != d.xor_hash) {
            auto list = blocking_ask<std::vector<std::string>>(
                sys_, *repairer, opts_.request_timeout, repair_atom::value, list_atom::value, ns,
                slice, me);
            if (!list) {
              fail("list", list.error());
              continue;
            }
            std::set<std::string> have(list->begin(), list->end());
            std::vector<std::string> lacking;
            for (auto& h : *ours)
              if (!have.count(h))
                lacking.push_back(h);
            if (auto err = copy_to(*store, ns, lacking)) {
              fail("copy", err);
              continue;
            }
          }
          // and the blobs held here for it
          if (auto it = handoff.find(peer); it != handoff.end()) {
            std::vector<blob_ref> refs;
            for (auto& h : it->second)
              refs.push_back(blob_ref{ns, h});
            auto missing = blocking_ask<missing_set>(sys_, *store, opts_.request_timeout,
                                                     missing_atom::value, find_missing{refs, {}});
            if (!missing) {
              fail("missing", missing.error());
              continue;
            }
            std::vector<std::string> lacking;
            for (auto i : missing->indices)
              if (i < refs.size())
                lacking.push_back(refs[i].hash);
            if (auto err = copy_to(*store, ns, lacking)) {
              fail("copy", err);
              continue;
            }
          }
        }
        update([&](repair_status& s) { ++s.ranges_done; });
      }
    }
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    repair_status done;
    update([&](repair_status& s) {
      s.running = false;
      ++s.passes;
      s.last_pass_ms = ms;
      s.last_pass_end_ms = now_ms();
      s.last_error = trouble;
      done = s;
    });
    if (done.copied)
      std::cerr << "ferryd: repair: pass " << done.passes << " copied " << done.copied
                << " blob(s) (" << (done.copied_bytes >> 10) << " KiB) to the nodes that lacked "
                << "them, in " << ms << " ms" << (trouble.empty() ? "" : "; " + trouble) << "\n";
    else if (!trouble.empty())
      std::cerr << "ferryd: repair: pass " << done.passes << " incomplete: " << trouble << "\n";
  }

  caf::actor_system& sys_;
  cluster_view_ptr view_;
  blob_store_ptr replica_;
  repairer_options opts_;
  std::shared_ptr<repair_shared> sh_;
  std::thread thread_; // (last: starts once the rest is there)
};

struct repairer_state {
  std::shared_ptr<repair_shared> shared;
  uint64_t next_sweep = 0;
  std::map<uint64_t, caf::typed_response_promise<sweep_report>> sweeps;
  std::map<std::string, uint64_t> seen;  ///< storage peers up, by incarnation
  std::unique_ptr<repair_worker> worker; ///< (last: ends first)
};

caf::behavior repairer(caf::stateful_actor<repairer_state>* self, directory_actor directory,
                       cluster_view_ptr view, blob_store_ptr replica, repairer_options opts) {
  auto sh = std::make_shared<repair_shared>();
  sh->status.node = view->self();
  sh->status.ranges_total = blob_ns_count * kSlices;
  self->state.shared = sh;
  self->state.worker = std::make_unique<repair_worker>(self->system(), view, replica, opts, sh);
  self->send(caf::actor_cast<caf::actor>(directory), subscribe_atom::value,
             caf::actor_cast<caf::actor>(self));
  auto request_pass = [sh] {
    {
      std::lock_guard<std::mutex> g{sh->mtx};
      sh->requested = true;
    }
    sh->wake.notify_all();
  };
  request_pass(); // a node that starts looks at what it holds
  return {
      [=](repair_atom, digest_atom, uint8_t ns, uint8_t slice,
          const std::string& peer) -> caf::result<range_digest> {
        if (ns >= blob_ns_count || slice >= kSlices)
          return make_error(ec::bad_request, "no such slice");
        auto hashes = shared_slice(*replica, *view, opts.replicas, ns, slice, view->self(), peer);
        if (!hashes)
          return hashes.error();
        return digest_of(*hashes);
      },
      [=](repair_atom, list_atom, uint8_t ns, uint8_t slice,
          const std::string& peer) -> caf::result<std::vector<std::string>> {
        if (ns >= blob_ns_count || slice >= kSlices)
          return make_error(ec::bad_request, "no such slice");
        auto hashes = shared_slice(*replica, *view, opts.replicas, ns, slice, view->self(), peer);
        if (!hashes)
          return hashes.error();
        return std::move(*hashes);
      },
      [sh](repair_atom, status_atom) {
        std::lock_guard<std::mutex> g{sh->mtx};
        return sh->status;
      },
      [request_pass](repair_atom) { request_pass(); },
      [self, sh, replica](gc_atom, std::vector<blob_ref>& live, int64_t grace_s,
                          int64_t marked_ms) -> caf::result<sweep_report> {
        // on the thread (a sweep reads the whole index); the answer comes
        // back here as a message
        auto id = ++self->state.next_sweep;
        auto rp = self->make_response_promise<sweep_report>();
        self->state.sweeps.emplace(id, rp);
        caf::weak_actor_ptr me = self->ctrl();
        {
          std::lock_guard<std::mutex> g{sh->mtx};
          sh->jobs.push_back([me, id, replica, node = sh->status.node, live = std::move(live),
                              grace_s, marked_ms] {
            auto t0 = std::chrono::steady_clock::now();
            // the live set is as old as its mark: what was touched since
            // the mark minus the grace is kept; a set too old is refused
            auto age_s = std::max<int64_t>(0, (now_ms() - marked_ms) / 1000 + 1);
            caf::expected<sweep_report> r =
                age_s > 600 ? caf::expected<sweep_report>(make_error(
                                  ec::unavailable, "the live set is " + std::to_string(age_s) +
                                                       " s old: not swept (the next collection)"))
                            : replica->sweep(live, std::chrono::seconds(grace_s + age_s));
            auto back = caf::actor_cast<caf::actor>(me.lock());
            if (!back)
              return;
            if (!r) {
              caf::anon_send(back, gc_atom::value, done_atom::value, id, r.error());
              return;
            }
            r->node = node;
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
            std::cerr << "ferryd: gc: deleted " << r->deleted << " of " << r->checked
                      << " blob(s), removed " << r->segments_removed << " and compacted "
                      << r->segments_compacted << " segment(s): " << (r->bytes_before >> 10)
                      << " KiB -> " << (r->bytes_after >> 10) << " KiB, in " << ms << " ms\n";
            caf::anon_send(back, gc_atom::value, done_atom::value, id, std::move(*r));
          });
        }
        sh->wake.notify_all();
        return rp;
      },
      [self](gc_atom, done_atom, uint64_t id, sweep_report& r) {
        if (auto it = self->state.sweeps.find(id); it != self->state.sweeps.end()) {
          it->second.deliver(std::move(r));
          self->state.sweeps.erase(it);
        }
      },
      [self](gc_atom, done_atom, uint64_t id, caf::error& e) {
        if (auto it = self->state.sweeps.find(id); it != self->state.sweeps.end()) {
          it->second.deliver(std::move(e));
          self->state.sweeps.erase(it);
        }
      },
      [self, request_pass](members_atom, const std::vector<member_status>& members) {
        // a storage node that comes up, or comes back as a new process
        // (perhaps with an empty disk): a pass now
        bool again = false;
        for (auto& m : members) {
          if (std::find(m.roles.begin(), m.roles.end(), "storage") == m.roles.end())
            continue;
          auto& seen = self->state.seen[m.node];
          auto now = m.up ? m.incarnation : 0;
          again = again || (now != 0 && now != seen);
          seen = now;
        }
        if (again)
          request_pass();
      },
  };
}

} // namespace

range_digest digest_of(const std::vector<std::string>& hashes) {
  range_digest d;
  d.xor_hash.assign(32, '\0');
  digest raw;
  for (auto& h : hashes) {
    if (!hash_from_hex(h, raw))
      continue;
    for (size_t i = 0; i < 32; ++i)
      d.xor_hash[i] = static_cast<char>(d.xor_hash[i] ^ static_cast<char>(raw[i]));
    ++d.count;
  }
  return d;
}

std::vector<std::string> holders_of(const std::vector<std::string>& storage_nodes,
                                    uint32_t replicas, uint8_t ns, const std::string& hash) {
  auto ranked = rank_nodes(storage_nodes, ns, hash);
  ranked.resize(std::min<size_t>(ranked.size(), std::max<uint32_t>(replicas, 1)));
  return ranked;
}

caf::actor spawn_repairer(caf::actor_system& sys, directory_actor directory, cluster_view_ptr view,
                          blob_store_ptr replica, repairer_options opts) {
  return sys.spawn(repairer, std::move(directory), std::move(view), std::move(replica), opts);
}

} // namespace ferry
