#include "cli/stat_cache.hpp"
#include "storage/sha256.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

using namespace ferry;
using namespace ferry::cli;
using ferry::test::tmpdir;

namespace {
scanned_file f(const std::string& path, int64_t mtime) {
  scanned_file s;
  s.path = path;
  s.size = 10;
  s.mtime_ns = mtime;
  s.ctime_ns = mtime;
  s.ino = 42;
  return s;
}
constexpr int64_t now = 1'000'000'000'000;
} // namespace

TEST_CASE("the stat cache vouches only for files whose stat is unchanged") {
  tmpdir d;
  stat_cache c;
  auto h = sha256_hex("x");
  c.put(f("a", now - 5'000'000'000), h);
  c.set_root(sha256_hex("root"));
  REQUIRE(c.save(d / "cache", now));
  stat_cache back;
  back.load(d / "cache");
  CHECK(back.lookup(f("a", now - 5'000'000'000)) == h);
  CHECK(back.root() == sha256_hex("root"));
  auto changed = f("a", now - 5'000'000'000);
  changed.size = 11;
  CHECK_FALSE(back.lookup(changed));
  changed = f("a", now - 5'000'000'000);
  changed.ino = 43;
  CHECK_FALSE(back.lookup(changed));
  changed = f("a", now - 5'000'000'000);
  changed.kind = entry_kind::exec;
  CHECK_FALSE(back.lookup(changed));
  CHECK_FALSE(back.lookup(f("b", now - 5'000'000'000)));
}

TEST_CASE("a file modified within the same timestamp tick is not cached, nor the root") {
  tmpdir d;
  stat_cache c;
  c.put(f("old", now - 5'000'000'000), sha256_hex("1"));
  c.put(f("racy", now - 10'000'000), sha256_hex("2"));
  c.set_root(sha256_hex("root"));
  REQUIRE(c.save(d / "cache", now));
  stat_cache back;
  back.load(d / "cache");
  CHECK(back.lookup(f("old", now - 5'000'000'000)));
  CHECK_FALSE(back.lookup(f("racy", now - 10'000'000)));
  CHECK(back.root().empty());
}

TEST_CASE("a garbled cache file is an empty cache") {
  tmpdir d;
  test::write_file(d / "cache", "FERRYSC2\xff\xff\xff\xff\xff\xff\xff\x7f" + std::string(40, 'x'));
  stat_cache c;
  c.load(d / "cache");
  CHECK(c.size() == 0);
}
