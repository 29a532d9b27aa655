#include "actors/collector.hpp"

#include "actors/blocking_ask.hpp"
#include "messages/errors.hpp"
#include "messages/registry.hpp"
#include "messages/storage.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <pthread.h>

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_set>

namespace ferry {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct collector_shared {
  std::mutex mtx;
  std::condition_variable wake;
  bool stop = false;
  bool requested = false;
  uint64_t started = 0; ///< collections begun
};

class collector_worker {
public:
  collector_worker(caf::actor_system& sys, directory_actor directory, cluster_view_ptr view,
                   blob_store_ptr blobs, collector_options opts,
                   std::shared_ptr<collector_shared> sh, caf::weak_actor_ptr owner)
      : sys_(sys),
        directory_(std::move(directory)),
        view_(std::move(view)),
        blobs_(std::move(blobs)),
        opts_(opts),
        sh_(std::move(sh)),
        owner_(std::move(owner)),
        thread_([this] { run(); }) {}

  ~collector_worker() {
    {
      std::lock_guard<std::mutex> g{sh_->mtx};
      sh_->stop = true;
    }
    sh_->wake.notify_all();
    thread_.join();
  }

private:
  void run() {
    pthread_setname_np(pthread_self(), "ferry-gc");
    uint64_t run = 0;
    while (true) {
      {
        std::unique_lock<std::mutex> g{sh_->mtx};
        sh_->wake.wait_for(g, opts_.interval, [&] { return sh_->stop || sh_->requested; });
        if (sh_->stop)
          return;
        sh_->requested = false;
        run = ++sh_->started;
      }
      auto summary = collect();
      if (auto back = caf::actor_cast<caf::actor>(owner_.lock()))
        caf::anon_send(back, gc_atom::value, done_atom::value, run, std::move(summary));
    }
  }

  gc_summary collect() {
    gc_summary sum;
    sum.started_ms = now_ms();
    auto t0 = std::chrono::steady_clock::now();
    auto finish = [&](std::string error) {
      sum.error = std::move(error);
      sum.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
      if (!sum.error.empty())
        std::cerr << "ferryd: gc: stopped, nothing more deleted: " << sum.error << "\n";
      return sum;
    };
    // 1. what the registry keeps (a sweep keeps what was touched since
    // this moment minus the grace: what the snapshot may not name)
    auto marked_ms = now_ms();
    auto registry = blocking_ask<caf::actor>(sys_, directory_, opts_.request_timeout,
                                             lookup_atom::value, std::string("registry"));
    if (!registry)
      return finish("the registry: " + reason_of(registry.error()));
    auto kept = blocking_ask<gc_roots>(sys_, caf::actor_cast<registry_actor>(*registry),
                                       std::chrono::milliseconds(60000), gc_atom::value,
                                       opts_.keep_versions);
    if (!kept)
      return finish("the registry: " + reason_of(kept.error()));
    sum.versions_kept = kept->kept;
    sum.versions_removed = kept->removed;
    // 2. mark
    std::vector<blob_ref> live;
    std::unordered_set<std::string> marked, walked_roots;
    for (auto& root : kept->roots) {
      if (!walked_roots.insert(std::to_string(root.ns) + root.hash).second)
        continue;
      std::vector<blob_ref> seen; // (the root and every node and file below it)
      auto walked = walk_tree(*blobs_, root.hash, root.ns, &seen);
      if (!walked)
        return finish("tree " + root.hash.substr(0, 16) +
                      " of a kept version cannot be read: " + reason_of(walked.error()));
      for (auto& r : seen)
        if (marked.insert(std::to_string(r.ns) + r.hash).second)
          live.push_back(std::move(r));
    }
    // the dependency caches: one that cannot be read whole is a cache lost
    // (a build installs anew and stores it again), not a reason to stop
    for (auto& root : kept->caches) {
      if (!walked_roots.insert(std::to_string(root.ns) + root.hash).second)
        continue;
      std::vector<blob_ref> seen;
      if (auto walked = walk_tree(*blobs_, root.hash, root.ns, &seen); !walked) {
        std::cerr << "ferryd: gc: dependency cache " << root.hash.substr(0, 16)
                  << " cannot be read whole, let go: " << reason_of(walked.error()) << "\n";
        continue;
      }
      for (auto& r : seen)
        if (marked.insert(std::to_string(r.ns) + r.hash).second)
          live.push_back(std::move(r));
    }
    sum.live = live.size();
    // 3. sweep every live storage node
    for (auto& node : view_->with_role("storage")) {
      auto n = view_->find(node);
      bool self = node == view_->self(); // (the view holds no handle for this node)
      if (!self && (!n || !n->up || !n->directory)) {
        sum.skipped.push_back(node + ": down");
        continue;
      }
      auto dir = self ? directory_ : caf::actor_cast<directory_actor>(n->directory);
      auto repairer = blocking_ask<caf::actor>(sys_, dir, opts_.request_timeout, lookup_atom::value,
                                               std::string("repairer"));
      if (!repairer) {
        sum.skipped.push_back(node + ": " + reason_of(repairer.error()));
        continue;
      }
      auto swept = blocking_ask<sweep_report>(
          sys_, caf::actor_cast<repairer_actor>(*repairer), std::chrono::milliseconds(600000),
          gc_atom::value, live, static_cast<int64_t>(opts_.grace.count()), marked_ms);
      if (!swept) {
        sum.skipped.push_back(node + ": " + reason_of(swept.error()));
        continue;
      }
      sum.nodes.push_back(std::move(*swept));
    }
    return finish("");
  }

  caf::actor_system& sys_;
  directory_actor directory_;
  cluster_view_ptr view_;
  blob_store_ptr blobs_;
  collector_options opts_;
  std::shared_ptr<collector_shared> sh_;
  caf::weak_actor_ptr owner_;
  std::thread thread_; // (last: starts once the rest is there)
};

struct collector_state {
  std::shared_ptr<collector_shared> shared;
  gc_summary last;
  /// requests, each with the number of collections begun when it came: it
  /// is answered by the first one that begins after it
  std::vector<std::pair<uint64_t, caf::typed_response_promise<gc_summary>>> waiting;
  std::unique_ptr<collector_worker> worker; ///< (last: ends first)
};

caf::behavior collector(caf::stateful_actor<collector_state>* self, directory_actor directory,
                        cluster_view_ptr view, blob_store_ptr blobs, collector_options opts) {
  auto sh = std::make_shared<collector_shared>();
  self->state.shared = sh;
  self->state.worker =
      std::make_unique<collector_worker>(self->system(), std::move(directory), std::move(view),
                                         std::move(blobs), opts, sh, self->ctrl());
  return {
      [self, sh](gc_atom) -> caf::result<gc_summary> {
        auto rp = self->make_response_promise<gc_summary>();
        {
          std::lock_guard<std::mutex> g{sh->mtx};
          sh->requested = true;
          self->state.waiting.emplace_back(sh->started, rp);
        }
        sh->wake.notify_all();
        return rp;
      },
      [self](gc_atom, status_atom) { return self->state.last; },
      [self](gc_atom, done_atom, uint64_t run, gc_summary& s) {
        self->state.last = s;
        auto& w = self->state.waiting;
        for (auto it = w.begin(); it != w.end();) {
          if (it->first < run) {
            it->second.deliver(s);
            it = w.erase(it);
          } else {
            ++it;
          }
        }
      },
  };
}

} // namespace

caf::actor spawn_collector(caf::actor_system& sys, directory_actor directory, cluster_view_ptr view,
                           blob_store_ptr blobs, collector_options opts) {
  return sys.spawn(collector, std::move(directory), std::move(view), std::move(blobs), opts);
}

} // namespace ferry
