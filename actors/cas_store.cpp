#include "actors/cas_store.hpp"

#include "messages/errors.hpp"
#include "storage/tree.hpp"

#include <algorithm>
#include <iterator>
#include <set>

#include <pthread.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace ferry {
namespace {

template <class T>
caf::result<T> to_result(caf::expected<T>&& x) {
  if (x)
    return std::move(*x);
  return std::move(x.error());
}

/// Stores blobs, and records that owner holds them (stored now or found
/// stored already). To a user, the answer counts what is new to that user:
/// whether another's blob was there already does not show.
caf::result<put_ack> put_held(const blob_store_ptr& store, const owner_index_ptr& owners,
                              const std::string& owner, const std::vector<blob_view>& blobs) {
  std::vector<blob_ref> refs;
  std::vector<uint32_t> fresh;
  if (!owner.empty()) {
    refs.reserve(blobs.size());
    for (auto& b : blobs)
      refs.push_back(blob_ref{b.ns, std::string(b.hash)});
    auto not_held = owners->not_held(owner, refs);
    if (!not_held)
      return std::move(not_held.error());
    fresh = std::move(*not_held);
  }
  auto ack = store->put(blobs);
  if (!ack)
    return std::move(ack.error());
  if (owner.empty())
    return std::move(*ack);
  if (auto err = owners->grant(owner, refs))
    return err;
  std::set<std::pair<uint8_t, std::string_view>> counted; // (a batch may hold a blob twice)
  put_ack mine;
  for (auto i : fresh)
    if (counted.emplace(blobs[i].ns, blobs[i].hash).second) {
      ++mine.stored;
      mine.bytes += blobs[i].data.size();
    }
  return mine;
}

/// A directory node a user puts may name only blobs the user holds (or that
/// come in the same batch): another's blob is as absent here as anywhere,
/// and the answer says just what it says for a blob nobody stored.
caf::error check_children(const owner_index_ptr& owners, const std::string& owner,
                          const std::vector<blob_view>& blobs) {
  if (owner.empty())
    return {};
  std::set<std::pair<uint8_t, std::string_view>> in_batch;
  for (auto& b : blobs)
    in_batch.emplace(b.ns, b.hash);
  std::vector<blob_ref> children;
  std::vector<tree_entry> entries;
  for (auto& b : blobs) {
    if (!is_tree_ns(b.ns) || !parse_tree(b.data, entries).empty())
      continue; // (the store refuses a malformed node itself)
    for (auto& e : entries) {
      if (e.kind == entry_kind::link)
        continue;
      uint8_t ns = e.kind == entry_kind::dir ? b.ns : static_cast<uint8_t>(b.ns - 1);
      if (!in_batch.count({ns, std::string_view(e.ref)}))
        children.push_back(blob_ref{ns, e.ref});
    }
  }
  if (children.empty())
    return {};
  auto foreign = owners->not_held(owner, children);
  if (!foreign)
    return foreign.error();
  if (!foreign->empty())
    return make_error(ec::missing_blobs, "directory node names " + std::to_string(foreign->size()) +
                                             " blob(s) not stored, e.g. " +
                                             children[foreign->front()].hash);
  return {};
}

cas_actor::behavior_type cas_worker(cas_actor::pointer self, blob_store_ptr store,
                                    owner_index_ptr owners) {
  pthread_setname_np(pthread_self(), "ferry-cas");
  return {
      [store, owners](put_atom, const put_blobs& req) -> caf::result<put_ack> {
        auto views = views_of(req.blobs);
        if (req.copy && req.owner.empty()) { // (a repair's: nobody counts on it)
          auto ack = store->put_copy(views);
          if (!ack)
            return std::move(ack.error());
          return *ack;
        }
        if (auto err = check_children(owners, req.owner, views))
          return err;
        return put_held(store, owners, req.owner, views);
      },
      [store, owners](put_atom, const blob_pack& pack) -> caf::result<put_ack> {
        std::vector<blob_view> views;
        std::vector<std::string> hashes;
        bool truncated = false;
        if (auto why = parse_blob_pack(pack.bytes, views, hashes, truncated, pack.max_ns);
            !why.empty())
          return make_error(truncated ? ec::truncated_body : ec::bad_request, why);
        if (auto err = check_children(owners, pack.owner, views))
          return err;
        return put_held(store, owners, pack.owner, views);
      },
      [store](get_atom, const blob_ref& ref) -> caf::result<blob> {
        auto bytes = store->get(ref);
        if (!bytes)
          return std::move(bytes.error());
        return blob{ref.ns, ref.hash, std::move(*bytes)};
      },
      [store, owners](missing_atom, const find_missing& q) -> caf::result<missing_set> {
        auto idx = store->find_missing(q.refs);
        if (!idx)
          return std::move(idx.error());
        if (!q.owner.empty()) { // another's blob is as good as absent
          auto foreign = owners->not_held(q.owner, q.refs);
          if (!foreign)
            return std::move(foreign.error());
          std::vector<uint32_t> all;
          std::set_union(idx->begin(), idx->end(), foreign->begin(), foreign->end(),
                         std::back_inserter(all));
          return missing_set{std::move(all)};
        }
        return missing_set{std::move(*idx)};
      },
      [store, owners](walk_atom, const walk_request& req) -> caf::result<tree_stats> {
        std::vector<blob_ref> seen;
        auto stats =
            walk_tree(*store, req.root.hash, req.root.ns, req.owner.empty() ? nullptr : &seen);
        if (!stats)
          return std::move(stats.error());
        if (!req.owner.empty()) {
          auto foreign = owners->not_held(req.owner, seen);
          if (!foreign)
            return std::move(foreign.error());
          if (!foreign->empty())
            return make_error(ec::missing_blobs,
                              std::to_string(foreign->size()) + " blob(s) of tree " +
                                  req.root.hash.substr(0, 16) + " are not stored, e.g. " +
                                  seen[foreign->front()].hash);
        }
        return std::move(*stats);
      },
  };
}

} // namespace

cas_actor::behavior_type cas_store(cas_actor::stateful_pointer<cas_state> self,
                                   blob_store_ptr store, owner_index_ptr owners, size_t workers) {
  for (size_t i = 0; i < std::max<size_t>(1, workers); ++i)
    self->state.workers.push_back(
        self->spawn<caf::detached + caf::linked>(cas_worker, store, owners));
  auto pick = [self] {
    auto& st = self->state;
    return st.workers[st.next++ % st.workers.size()];
  };
  return {
      [self, pick](put_atom a, put_blobs& req) {
        return self->delegate(pick(), a, std::move(req));
      },
      [self, pick](put_atom a, blob_pack& req) {
        return self->delegate(pick(), a, std::move(req));
      },
      [self, pick](get_atom a, blob_ref& ref) { return self->delegate(pick(), a, std::move(ref)); },
      [self, pick](missing_atom a, find_missing& q) {
        return self->delegate(pick(), a, std::move(q));
      },
      [self, pick](walk_atom a, walk_request& req) {
        return self->delegate(pick(), a, std::move(req));
      },
  };
}

cas_actor spawn_cas_store(caf::actor_system& sys, blob_store_ptr store, owner_index_ptr owners,
                          size_t workers) {
  return sys.spawn(cas_store, std::move(store), std::move(owners), workers);
}

} // namespace ferry
