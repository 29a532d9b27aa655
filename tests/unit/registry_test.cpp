// Requests from other nodes to the registry carry the user they are for
// (point 6 of the cluster issue): a runtime's secrets request, a build
// node's dependency cache requests.
#include "actors/version_registry.hpp"
#include "messages/errors.hpp"
#include "messages/types.hpp"
#include "storage/secret_box.hpp"
#include "tests/support/tmpdir.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <set>

using namespace ferry;
using ferry::test::tmpdir;

namespace {

struct registry_fixture {
  tmpdir dir;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  registry_actor reg;

  registry_fixture() {
    register_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto store = metadata_store::open(dir.path() + "/meta");
    REQUIRE(store);
    registry_options opts;
    auto key = load_or_create_key(dir.path() + "/secret.key");
    REQUIRE(key);
    opts.secret_key = *key;
    reg = spawn_version_registry(
        *sys, std::shared_ptr<metadata_store>(std::move(*store)),
        [t = std::make_shared<std::atomic<int64_t>>(1000)] { return (*t)++; }, opts);
  }
  ~registry_fixture() {
    caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
    reg = nullptr;
    sys.reset();
  }

  template <class R, class... Ts>
  caf::expected<R> ask(Ts&&... xs) {
    caf::scoped_actor self{*sys};
    caf::expected<R> out{make_error(ec::unavailable, "no answer")};
    self->request(reg, std::chrono::seconds(10), std::forward<Ts>(xs)...)
        .receive([&](R& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }
};

} // namespace

TEST_CASE_METHOD(registry_fixture,
                 "a deployment's secrets go only to a request in the name of its owner") {
  principal alice{"alice", false}, bob{"bob", false};
  auto v = ask<version_info>(create_atom::value, alice,
                             new_version{"web", std::string(64, 'a'), "", 0, 0, false, "preview"});
  REQUIRE(v);
  auto added = ask<std::vector<env_entry>>(
      env_atom::value, alice, env_change{"add", "web", "production", "DB_PASSWORD", "hunter22x"});
  REQUIRE(added);

  auto mine =
      ask<std::vector<std::string>>(secrets_atom::value, alice, v->id, std::string("production"));
  REQUIRE(mine);
  CHECK(*mine == std::vector<std::string>{"DB_PASSWORD", "hunter22x"});
  // the preview environment has none
  auto preview =
      ask<std::vector<std::string>>(secrets_atom::value, alice, v->id, std::string("preview"));
  REQUIRE(preview);
  CHECK(preview->empty());

  // another user, a made-up deployment, a made-up environment: nothing
  auto theirs =
      ask<std::vector<std::string>>(secrets_atom::value, bob, v->id, std::string("production"));
  REQUIRE_FALSE(theirs);
  CHECK(code_of(theirs.error()) == ec::not_found);
  auto unknown = ask<std::vector<std::string>>(secrets_atom::value, alice, std::string("nosuchid"),
                                               std::string("production"));
  REQUIRE_FALSE(unknown);
  CHECK(code_of(unknown.error()) == ec::not_found);
  auto odd =
      ask<std::vector<std::string>>(secrets_atom::value, alice, v->id, std::string("staging"));
  REQUIRE_FALSE(odd);
  CHECK(code_of(odd.error()) == ec::bad_request);

  // a removed deployment starts no instance with its project's secrets
  REQUIRE(ask<version_info>(remove_atom::value, alice, v->id));
  auto gone =
      ask<std::vector<std::string>>(secrets_atom::value, alice, v->id, std::string("production"));
  REQUIRE_FALSE(gone);
  CHECK(code_of(gone.error()) == ec::not_found);
}

TEST_CASE_METHOD(registry_fixture,
                 "a dependency cache is found only for its project's user, and a project keeps "
                 "three") {
  // (the user must exist: the registry looks its rights up by name)
  principal admin{"root", true};
  REQUIRE(ask<std::string>(user_atom::value, admin, std::string("alice"), false));
  REQUIRE(ask<std::string>(user_atom::value, admin, std::string("bob"), false));
  principal alice{"alice", false};
  auto v = ask<version_info>(create_atom::value, alice,
                             new_version{"web", std::string(64, 'a'), "", 0, 0, false, "preview"});
  REQUIRE(v);
  auto key = [](char c) { return "npm-" + std::string(64, c); };
  auto root = [](char c) { return std::string(64, c); };
  std::string alice_s = "alice", bob_s = "bob";

  auto none = ask<dep_cache_info>(cache_atom::value, alice_s, v->id, key('1'));
  REQUIRE(none);
  CHECK(none->root.empty());
  auto put =
      ask<dep_cache_info>(cache_atom::value, alice_s, v->id, key('1'), root('b'), uint64_t{1000});
  REQUIRE(put);
  auto found = ask<dep_cache_info>(cache_atom::value, alice_s, v->id, key('1'));
  REQUIRE(found);
  CHECK(found->root == root('b'));
  CHECK(found->project == "web");

  // another user learns nothing, and stores nothing under alice's project
  auto theirs = ask<dep_cache_info>(cache_atom::value, bob_s, v->id, key('1'));
  REQUIRE_FALSE(theirs);
  CHECK(code_of(theirs.error()) == ec::not_found);
  auto planted =
      ask<dep_cache_info>(cache_atom::value, bob_s, v->id, key('2'), root('c'), uint64_t{1});
  REQUIRE_FALSE(planted);
  CHECK(code_of(planted.error()) == ec::not_found);
  auto nobody = ask<dep_cache_info>(cache_atom::value, std::string("mallory"), v->id, key('1'));
  REQUIRE_FALSE(nobody);
  // keys and roots are what they claim to be
  auto odd = ask<dep_cache_info>(cache_atom::value, alice_s, v->id, std::string("npm-../x"));
  REQUIRE_FALSE(odd);
  CHECK(code_of(odd.error()) == ec::bad_request);
  auto bad_root = ask<dep_cache_info>(cache_atom::value, alice_s, v->id, key('3'),
                                      std::string("../../etc"), uint64_t{1});
  REQUIRE_FALSE(bad_root);
  CHECK(code_of(bad_root.error()) == ec::bad_request);

  // the three most recently used stay (the registry's clock ticks once a
  // call), and their trees are roots of a collection
  for (char c : {'4', '5', '6'})
    REQUIRE(ask<dep_cache_info>(cache_atom::value, alice_s, v->id, key(c), root(c), uint64_t{1}));
  auto roots = ask<gc_roots>(gc_atom::value, uint32_t{20});
  REQUIRE(roots);
  REQUIRE(roots->caches.size() == 3);
  std::set<std::string> kept;
  for (auto& r : roots->caches)
    kept.insert(r.hash);
  CHECK(kept == std::set<std::string>{root('4'), root('5'), root('6')});
  CHECK(ask<dep_cache_info>(cache_atom::value, alice_s, v->id, key('1'))->root.empty());
  CHECK(ask<dep_cache_info>(cache_atom::value, alice_s, v->id, key('6'))->root == root('6'));
}
