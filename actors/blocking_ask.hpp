#pragma once
// A request from a thread that may wait (a worker thread, not an actor):
// the answer, or the error (unavailable if none came).
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>

namespace ferry {

template <class R, class Handle, class... Ts>
caf::expected<R> blocking_ask(caf::actor_system& sys, const Handle& h,
                              std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<R> out = make_error(ec::unavailable, "no answer");
  self->request(h, timeout, std::forward<Ts>(xs)...)
      .receive([&](R& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace ferry
