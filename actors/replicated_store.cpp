#include "actors/replicated_store.hpp"

#include "actors/blocking_ask.hpp"
#include "messages/errors.hpp"
#include "messages/node.hpp"
#include "messages/storage.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace ferry {
namespace {

uint64_t mix(uint64_t z) { // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t score(std::string_view node, uint8_t ns, std::string_view hash) {
  uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a over node, ns and hash
  auto eat = [&](std::string_view s) {
    for (unsigned char c : s)
      h = (h ^ c) * 0x100000001b3ULL;
  };
  eat(node);
  h = (h ^ 0xff) * 0x100000001b3ULL;
  h = (h ^ ns) * 0x100000001b3ULL;
  eat(hash);
  return mix(h);
}

class replicated_blob_store final : public blob_store {
public:
  replicated_blob_store(caf::actor_system& sys, cluster_view_ptr view, blob_store_ptr local,
                        blob_store_ptr cache, replication_options opts)
      : sys_(sys),
        view_(std::move(view)),
        local_(std::move(local)),
        cache_(std::move(cache)),
        opts_(opts) {}

  caf::expected<std::string> get(const blob_ref& ref) override {
    for (auto& mine : {local_, cache_}) {
      if (!mine)
        continue;
      auto bytes = mine->get(ref);
      if (bytes)
        return bytes; // (not here, or a corrupt copy: the others may hold a good one)
    }
    std::optional<caf::error> last;
    for (auto& node : rank_nodes(up_storage(), ref.ns, ref.hash)) {
      if (node == view_->self())
        continue;
      auto store = store_of(node);
      if (!store) {
        last = store.error();
        continue;
      }
      caf::scoped_actor self{sys_};
      caf::expected<blob> got = make_error(ec::unavailable, "no answer");
      self->request(*store, opts_.request_timeout, get_atom::value, ref)
          .receive([&](blob& b) { got = std::move(b); },
                   [&](caf::error& e) {
                     unanswered(node, e);
                     got = e;
                   });
      ++stats_.remote_gets;
      if (!got) {
        if (code_of(got.error()) != ec::not_found)
          last = got.error();
        continue;
      }
      if (cache_)
        cache_->put({blob_view{ref.ns, ref.hash, got->data}}); // (a cache that fails: no harm)
      return std::move(got->data);
    }
    if (last && code_of(*last) != ec::not_found)
      return make_error(ec::not_found, "blob " + ref.hash + " is on no node that answers (" +
                                           reason_of(*last) + ")");
    return make_error(ec::not_found, "blob " + ref.hash + " is not stored");
  }

  caf::expected<put_ack> put(const std::vector<blob_view>& blobs) override {
    return put_to(blobs, false);
  }

  caf::expected<std::vector<uint32_t>> find_missing(const std::vector<blob_ref>& refs) override {
    auto all = view_->with_role("storage");
    size_t r = copies(all.size());
    auto up = up_storage();
    if (up.empty() && !refs.empty())
      return make_error(ec::unavailable, "no storage node is up");
    // each ref's first r up nodes, every one asked: a holder that has it
    // counts it as wanted now (a sweep leaves it: blob_store::sweep), so
    // a reused blob keeps both copies through a collection
    std::vector<std::vector<std::string>> cands(refs.size());
    for (size_t i = 0; i < refs.size(); ++i) {
      auto ranked = rank_nodes(up, refs[i].ns, refs[i].hash);
      ranked.resize(std::min(ranked.size(), r));
      cands[i] = std::move(ranked);
    }
    std::vector<bool> found(refs.size(), false), answered(refs.size(), false);
    std::string unanswered;
    for (size_t round = 0; round < r; ++round) {
      std::map<std::string, std::vector<uint32_t>> by_node;
      for (uint32_t i = 0; i < refs.size(); ++i)
        if (round < cands[i].size())
          by_node[cands[i][round]].push_back(i);
      if (by_node.empty())
        break;
      for (auto& [node, idx] : by_node) {
        std::vector<blob_ref> ask;
        ask.reserve(idx.size());
        for (auto i : idx)
          ask.push_back(refs[i]);
        auto missing = missing_on(node, ask);
        if (!missing) { // (the next round asks the next node)
          unanswered = node + ": " + reason_of(missing.error());
          continue;
        }
        for (auto i : idx)
          answered[i] = true;
        std::vector<bool> absent(ask.size(), false);
        for (auto m : *missing)
          if (m < absent.size())
            absent[m] = true;
        for (size_t k = 0; k < idx.size(); ++k)
          if (!absent[k])
            found[idx[k]] = true;
      }
    }
    std::vector<uint32_t> out;
    for (uint32_t i = 0; i < refs.size(); ++i) {
      if (!found[i] && !answered[i]) // (absent, or on a node that did not say)
        return make_error(ec::unavailable, "no storage node that holds blob " + refs[i].hash +
                                               " answers (" + unanswered + ")");
      if (!found[i])
        out.push_back(i);
    }
    return out;
  }

  caf::expected<std::string> put_file(uint8_t ns, int fd, uint64_t size) override {
    if (!local_)
      return blob_store::put_file(ns, fd, size);
    // streamed into this node's replica; the others get it from there
    auto hash = local_->put_file(ns, fd, size);
    if (!hash)
      return hash;
    auto all = view_->with_role("storage");
    auto holders = rank_nodes(up_storage(), ns, *hash);
    holders.resize(std::min(holders.size(), copies(all.size())));
    bool others =
        std::any_of(holders.begin(), holders.end(), [&](auto& n) { return n != view_->self(); });
    if (!others)
      return hash;
    auto bytes = local_->get(blob_ref{ns, *hash});
    if (!bytes)
      return bytes.error();
    auto ack = put_to({blob_view{ns, *hash, *bytes}}, true);
    if (!ack)
      return ack.error();
    return hash;
  }

  replication_stats stats() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return stats_;
  }

private:
  /// Copies of a blob with this many storage nodes in the cluster.
  size_t copies(size_t storage_nodes) const {
    return std::max<size_t>(1, std::min<size_t>(opts_.replicas, storage_nodes));
  }

  /// The storage nodes that are up and have not just let a request time
  /// out: one that did is left alone until the membership has had time to
  /// decide (the failure timeout), so that a stopped node costs a request
  /// its timeout once, not once per blob.
  std::vector<std::string> up_storage() const {
    auto up = view_->up_with_role("storage");
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> guard{mtx_};
    std::erase_if(up, [&](const std::string& n) {
      auto it = suspect_.find(n);
      return it != suspect_.end() && it->second > now;
    });
    return up;
  }

  bool is_usable(const std::string& node) const {
    if (!view_->is_up(node))
      return false;
    std::lock_guard<std::mutex> guard{mtx_};
    auto it = suspect_.find(node);
    return it == suspect_.end() || it->second <= std::chrono::steady_clock::now();
  }

  /// A request to node went unanswered (not refused): leave it alone a while.
  void unanswered(const std::string& node, const caf::error& e) {
    if (e.category() != caf::atom("system") ||
        static_cast<caf::sec>(e.code()) != caf::sec::request_timeout)
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    suspect_[node] = std::chrono::steady_clock::now() + opts_.request_timeout;
  }

  /// The "store" actor of a node, through its directory (kept per incarnation).
  caf::expected<caf::actor> store_of(const std::string& node) {
    auto n = view_->find(node);
    if (!n || !n->up || !n->directory)
      return make_error(ec::unavailable, "storage node '" + node + "' is down");
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto it = stores_.find(node);
      if (it != stores_.end() && it->second.first == n->incarnation)
        return it->second.second;
    }
    auto out =
        blocking_ask<caf::actor>(sys_, caf::actor_cast<directory_actor>(n->directory),
                                 opts_.request_timeout, lookup_atom::value, std::string("store"));
    if (!out)
      unanswered(node, out.error());
    if (out) {
      std::lock_guard<std::mutex> guard{mtx_};
      stores_[node] = {n->incarnation, *out};
    }
    return out;
  }

  caf::expected<std::vector<uint32_t>> missing_on(const std::string& node,
                                                  const std::vector<blob_ref>& refs) {
    if (node == view_->self() && local_)
      return local_->find_missing(refs);
    auto store = store_of(node);
    if (!store)
      return store.error();
    auto got =
        blocking_ask<missing_set>(sys_, caf::actor_cast<cas_actor>(*store), opts_.request_timeout,
                                  missing_atom::value, ferry::find_missing{refs, {}});
    if (!got) {
      unanswered(node, got.error());
      return got.error();
    }
    return std::move(got->indices);
  }

  /// Writes each blob to its first R up nodes (not this one's replica if
  /// skip_self: it is there already).
  caf::expected<put_ack> put_to(const std::vector<blob_view>& blobs, bool skip_self) {
    auto all = view_->with_role("storage");
    const size_t want = copies(all.size());
    const size_t settle = opts_.min_replicas ? std::min<size_t>(opts_.min_replicas, want) : want;
    std::vector<std::vector<std::string>> ranked(blobs.size());
    for (size_t i = 0; i < blobs.size(); ++i)
      ranked[i] = rank_nodes(all, blobs[i].ns, blobs[i].hash);
    std::vector<std::set<std::string>> held(blobs.size()), failed(blobs.size());
    if (skip_self)
      for (size_t i = 0; i < blobs.size(); ++i)
        held[i].insert(view_->self());
    auto deadline = std::chrono::steady_clock::now() + opts_.write_timeout;
    put_ack ack;
    std::string why;
    caf::error last;
    while (true) {
      // each blob short of its copies goes to the next up nodes in its order
      std::map<std::string, std::vector<uint32_t>> by_node;
      bool short_of_nodes = false;
      for (uint32_t i = 0; i < blobs.size(); ++i) {
        size_t need = want > held[i].size() ? want - held[i].size() : 0;
        for (auto& node : ranked[i]) {
          if (!need)
            break;
          if (held[i].count(node) || failed[i].count(node) || !is_usable(node))
            continue;
          by_node[node].push_back(i);
          --need;
        }
        short_of_nodes = short_of_nodes || need > 0;
      }
      if (by_node.empty()) {
        if (!short_of_nodes)
          break; // every blob has its copies
        // every usable node has been tried: wait only for one that is down
        // (or left alone for a timeout)
        auto usable = std::count_if(all.begin(), all.end(),
                                    [&](const std::string& n) { return is_usable(n); });
        if (static_cast<size_t>(usable) >= all.size() ||
            std::chrono::steady_clock::now() >= deadline)
          break;
        // wait for a node to come back (or be tried again)
        view_->wait(view_->version(), std::chrono::milliseconds(200));
        for (auto& f : failed)
          f.clear();
        continue;
      }
      // send every node its share at once, then collect the answers
      caf::scoped_actor self{sys_};
      std::vector<std::pair<std::string, caf::expected<put_ack>>> answers;
      std::vector<std::pair<std::string, caf::actor>> remote;
      for (auto& [node, idx] : by_node) {
        if (node == view_->self() && local_)
          continue;
        auto store = store_of(node);
        if (!store) {
          answers.emplace_back(node, store.error());
          continue;
        }
        remote.emplace_back(node, *store);
      }
      // (requests first, so that the nodes write at the same time)
      using handle_t = decltype(std::declval<caf::scoped_actor&>()->request(
          std::declval<caf::actor&>(), std::chrono::milliseconds{}, put_atom::value, put_blobs{}));
      std::vector<std::pair<std::string, handle_t>> handles;
      for (auto& [node, store] : remote) {
        put_blobs batch;
        for (auto i : by_node[node])
          batch.blobs.push_back(
              blob{blobs[i].ns, std::string(blobs[i].hash), std::string(blobs[i].data)});
        auto timeout = opts_.request_timeout + write_time(batch);
        handles.emplace_back(node,
                             self->request(store, timeout, put_atom::value, std::move(batch)));
      }
      if (by_node.count(view_->self()) && local_) {
        std::vector<blob_view> mine;
        for (auto i : by_node[view_->self()])
          mine.push_back(blobs[i]);
        answers.emplace_back(view_->self(), local_->put(mine));
      }
      for (auto& [node, h] : handles) {
        caf::expected<put_ack> got = make_error(ec::unavailable, "no answer");
        h.receive([&](put_ack& a) { got = a; },
                  [&, node = node](caf::error& e) {
                    unanswered(node, e);
                    got = e;
                  });
        answers.emplace_back(node, std::move(got));
      }
      {
        std::lock_guard<std::mutex> guard{mtx_};
        stats_.remote_puts += handles.size();
      }
      for (auto& [node, got] : answers) {
        if (got) {
          ack.stored = std::max(ack.stored, got->stored);
          ack.bytes = std::max(ack.bytes, got->bytes);
          for (auto i : by_node[node])
            held[i].insert(node);
          continue;
        }
        // refused for what it is (a bad blob): no other node takes it either
        auto code = code_of(got.error());
        if (code == ec::hash_mismatch || code == ec::bad_request)
          return got.error();
        why = "node '" + node + "': " + reason_of(got.error());
        last = got.error();
        std::lock_guard<std::mutex> guard{mtx_};
        ++stats_.failovers;
        for (auto i : by_node[node])
          failed[i].insert(node);
      }
    }
    size_t fewest = want;
    for (auto& h : held)
      fewest = std::min(fewest, h.size());
    if (fewest >= want)
      return ack;
    if (fewest >= settle && fewest > 0) {
      std::lock_guard<std::mutex> guard{mtx_};
      ++stats_.under_replicated;
      return ack;
    }
    if (last && code_of(last) == ec::storage_error && fewest == 0)
      return last; // (a full disk, say: what the store said)
    return make_error(ec::unavailable,
                      "only " + std::to_string(fewest) + " of " + std::to_string(want) +
                          " copies of a blob could be written within " +
                          std::to_string(opts_.write_timeout.count()) + " ms" +
                          (why.empty() ? " (too few storage nodes are up)" : " (" + why + ")"));
  }

  /// Time to allow a batch on top of the request timeout: 10 ms a MiB.
  static std::chrono::milliseconds write_time(const put_blobs& batch) {
    uint64_t bytes = 0;
    for (auto& b : batch.blobs)
      bytes += b.data.size();
    return std::chrono::milliseconds(bytes / (100 << 10));
  }

  caf::actor_system& sys_;
  cluster_view_ptr view_;
  blob_store_ptr local_, cache_;
  replication_options opts_;
  mutable std::mutex mtx_;
  std::map<std::string, std::pair<uint64_t, caf::actor>> stores_; ///< node -> (incarnation, store)
  std::map<std::string, std::chrono::steady_clock::time_point> suspect_; ///< left alone until
  replication_stats stats_;
};

} // namespace

std::vector<std::string> rank_nodes(const std::vector<std::string>& nodes, uint8_t ns,
                                    std::string_view hash) {
  std::vector<std::pair<uint64_t, std::string>> scored;
  scored.reserve(nodes.size());
  for (auto& n : nodes)
    scored.emplace_back(score(n, ns, hash), n);
  std::sort(scored.begin(), scored.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> out;
  out.reserve(scored.size());
  for (auto& s : scored)
    out.push_back(std::move(s.second));
  return out;
}

blob_store_ptr make_replicated_blob_store(caf::actor_system& sys, cluster_view_ptr view,
                                          blob_store_ptr local, blob_store_ptr cache,
                                          replication_options opts) {
  return std::make_shared<replicated_blob_store>(sys, std::move(view), std::move(local),
                                                 std::move(cache), opts);
}

replication_stats stats_of(const blob_store& store) {
  if (auto r = dynamic_cast<const replicated_blob_store*>(&store))
    return r->stats();
  return {};
}

} // namespace ferry
