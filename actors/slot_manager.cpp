#include "actors/slot_manager.hpp"

#include "sandbox/build_runner.hpp"

#include <pthread.h>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace ferry {

namespace {

std::string slot_dir(const std::string& base, uint32_t slot) {
  return base + "/" + std::to_string(slot);
}

slot_manager_actor::behavior_type slot_manager(
    slot_manager_actor::stateful_pointer<slot_manager_state> self, std::string base,
    uint32_t slots) {
  auto& st = self->state;
  st.base = base;
  for (uint32_t i = slots; i > 0; --i)
    st.ready.push_back(i - 1);
  auto wipe_later = [self](uint32_t slot) {
    auto dir = slot_dir(self->state.base, slot);
    auto manager = caf::actor_cast<slot_manager_actor>(self);
    self->spawn<caf::detached>([manager, slot, dir] {
      pthread_setname_np(pthread_self(), "ferry-wipe");
      caf::anon_send(manager, done_atom::value, slot, sandbox::wipe(dir));
    });
  };
  self->set_down_handler([self, wipe_later](caf::down_msg& dm) {
    for (auto& [slot, holder] : self->state.busy)
      if (holder == dm.source)
        wipe_later(slot);
  });
  return {
      [self](acquire_atom) {
        auto& st = self->state;
        if (st.ready.empty())
          return slot_lease{"pool_exhausted", 0, {}};
        auto slot = st.ready.back();
        st.ready.pop_back();
        auto holder = caf::actor_cast<caf::actor_addr>(self->current_sender());
        st.busy[slot] = holder;
        if (holder)
          self->monitor(holder);
        return slot_lease{"ok", slot, slot_dir(st.base, slot)};
      },
      [self, wipe_later](release_atom, uint32_t slot) {
        if (self->state.busy.count(slot))
          wipe_later(slot);
      },
      [self](done_atom, uint32_t slot, bool clean) {
        auto& st = self->state;
        if (!st.busy.erase(slot))
          return;   // wiped twice (released as its holder died): counted once
        if (!clean) // a slot that cannot be wiped is set aside; a fresh one takes its place
          std::rename(
              slot_dir(st.base, slot).c_str(),
              (slot_dir(st.base, slot) + ".broken-" + std::to_string(st.generation++)).c_str());
        if (clean || sandbox::wipe(slot_dir(st.base, slot)))
          st.ready.push_back(slot);
      },
  };
}

} // namespace

slot_manager_actor spawn_slot_manager(caf::actor_system& sys, std::string base, uint32_t slots) {
  for (uint32_t i = 0; i < slots; ++i) // on the caller's thread: this may block
    sandbox::wipe(slot_dir(base, i));
  return sys.spawn(slot_manager, std::move(base), slots);
}

} // namespace ferry
