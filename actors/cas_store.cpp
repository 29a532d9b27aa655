#include "actors/cas_store.hpp"

#include "messages/errors.hpp"

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

cas_actor::behavior_type cas_worker(cas_actor::pointer self, blob_store_ptr store) {
  return {
      [store](put_atom, const put_blobs& req) {
        return to_result(store->put(views_of(req.blobs)));
      },
      [store](put_atom, const blob_pack& pack) -> caf::result<put_ack> {
        std::vector<blob_view> views;
        std::vector<std::string> hashes;
        bool truncated = false;
        if (auto why = parse_blob_pack(pack.bytes, views, hashes, truncated, pack.max_ns);
            !why.empty())
          return make_error(truncated ? ec::truncated_body : ec::bad_request, why);
        return to_result(store->put(views));
      },
      [store](get_atom, const blob_ref& ref) -> caf::result<blob> {
        auto bytes = store->get(ref);
        if (!bytes)
          return std::move(bytes.error());
        return blob{ref.ns, ref.hash, std::move(*bytes)};
      },
      [store](missing_atom, const find_missing& q) -> caf::result<missing_set> {
        auto idx = store->find_missing(q.refs);
        if (!idx)
          return std::move(idx.error());
        return missing_set{std::move(*idx)};
      },
      [store](walk_atom, const blob_ref& root) {
        return to_result(walk_tree(*store, root.hash, root.ns));
      },
  };
}

} // namespace

cas_actor::behavior_type cas_store(cas_actor::stateful_pointer<cas_state> self,
                                   blob_store_ptr store, size_t workers) {
  for (size_t i = 0; i < std::max<size_t>(1, workers); ++i)
    self->state.workers.push_back(self->spawn<caf::detached + caf::linked>(cas_worker, store));
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
      [self, pick](walk_atom a, blob_ref& root) {
        return self->delegate(pick(), a, std::move(root));
      },
  };
}

cas_actor spawn_cas_store(caf::actor_system& sys, blob_store_ptr store, size_t workers) {
  return sys.spawn(cas_store, std::move(store), workers);
}

} // namespace ferry
