#include "messages/errors.hpp"
#include "storage/blob_store.hpp"
#include "storage/sha256.hpp"
#include "storage/tree.hpp"
#include "tests/support/tmpdir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <unistd.h>

using namespace ferry;
using ferry::test::tmpdir;

namespace {

constexpr uint8_t src = 0, tre = 1;

blob make(const std::string& data, uint8_t ns = src) {
  return blob{ns, sha256_hex(data), data};
}

blob_store_ptr open_store(const std::string& dir) {
  auto s = open_rocksdb_blob_store(dir);
  REQUIRE(s);
  return make_verifying_blob_store(*s);
}

ec put_code(blob_store& s, const std::vector<blob>& bs) {
  auto r = s.put(views_of(bs));
  return r ? ec::ok : code_of(r.error());
}

} // namespace

TEST_CASE("a stored blob reads back and is no longer missing") {
  tmpdir d;
  auto s = open_store(d.path());
  auto a = make("hello"), b = make(std::string(300000, 'z')); // a small and a large blob
  auto missing = s->find_missing({{src, a.hash}, {src, b.hash}});
  REQUIRE(missing);
  CHECK(missing->size() == 2);
  auto ack = s->put(views_of({a, b}));
  REQUIRE(ack);
  CHECK(ack->stored == 2);
  CHECK(ack->bytes == 5 + 300000);
  CHECK(s->get({src, a.hash}).value() == "hello");
  CHECK(s->get({src, b.hash}).value() == b.data);
  CHECK(s->find_missing({{src, a.hash}, {src, b.hash}})->empty());
  // storing again is a no-op
  CHECK(s->put(views_of({a}))->stored == 0);
}

TEST_CASE("namespaces are apart: a file blob is not a directory node") {
  tmpdir d;
  auto s = open_store(d.path());
  auto a = make("");
  REQUIRE(s->put(views_of({a})));
  CHECK(s->find_missing({{tre, a.hash}})->size() == 1);
  CHECK(code_of(s->get({tre, a.hash}).error()) == ec::not_found);
}

TEST_CASE("a blob whose bytes do not match its name is refused and not stored") {
  tmpdir d;
  auto s = open_store(d.path());
  auto good = make("good");
  auto bad = blob{src, sha256_hex("other"), "tampered"};
  CHECK(put_code(*s, {good, bad}) == ec::hash_mismatch);
  // all or nothing: the good blob of the same batch is not stored either
  CHECK(s->find_missing({{src, good.hash}, {src, bad.hash}})->size() == 2);
  CHECK(put_code(*s, {blob{src, "nothex", "x"}}) == ec::bad_request);
}

TEST_CASE("a directory node is stored only when everything it names is stored") {
  tmpdir d;
  auto s = open_store(d.path());
  auto f = make("content");
  built_tree t;
  REQUIRE_FALSE(build_tree({flat_entry{"dir/f.txt", entry_kind::file, 7, f.hash}}, t));
  std::vector<blob> nodes;
  for (auto& n : t.nodes)
    nodes.push_back(blob{tre, n.hash, n.bytes});
  CHECK(put_code(*s, nodes) == ec::missing_blobs); // the file is missing
  CHECK(s->find_missing({{tre, t.root}})->size() == 1);
  REQUIRE(s->put(views_of({f})));
  CHECK(put_code(*s, {nodes.back()}) == ec::missing_blobs); // its child dir is missing
  CHECK(put_code(*s, nodes) == ec::ok);                     // children earlier in the batch count
  auto stats = walk_tree(*s, t.root);
  REQUIRE(stats);
  CHECK(stats->files == 1);
  CHECK(stats->bytes == 7);
  CHECK(stats->dirs == 2);
  CHECK(put_code(*s, {blob{tre, sha256_hex("garbage"), "garbage"}}) == ec::bad_request);
}

TEST_CASE("a walk refuses a tree whose symlink leaves it, at the place it sits") {
  tmpdir d;
  auto s = open_store(d.path());
  // "../x" is fine one level down, but not at the root.
  std::vector<tree_entry> inner{{entry_kind::link, 4, "../x", "ln"}};
  auto inner_bytes = encode_tree(inner);
  std::vector<tree_entry> root{{entry_kind::dir, 0, sha256_hex(inner_bytes), "sub"}};
  auto root_bytes = encode_tree(root);
  REQUIRE(s->put(views_of({blob{tre, sha256_hex(inner_bytes), inner_bytes},
                           blob{tre, sha256_hex(root_bytes), root_bytes}})));
  CHECK(walk_tree(*s, sha256_hex(root_bytes)));
  CHECK(code_of(walk_tree(*s, sha256_hex(inner_bytes)).error()) == ec::bad_symlink);
  CHECK(code_of(walk_tree(*s, sha256_hex("absent")).error()) == ec::missing_blobs);
}

TEST_CASE("blobs survive a reopen, and corrupted bytes are detected on read") {
  tmpdir d;
  auto a = make(std::string(1000, 'a')), b = make(std::string(1000, 'b'));
  {
    auto s = open_store(d.path());
    REQUIRE(s->put(views_of({a})));
  }
  {
    auto s = open_store(d.path());
    CHECK(s->get({src, a.hash}).value() == a.data);
    REQUIRE(s->put(views_of({b}))); // appends to a new segment, the old one stays intact
    CHECK(s->get({src, a.hash}).value() == a.data);
  }
  // flip a byte of a's content in its segment
  for (auto& e : std::filesystem::directory_iterator(d / "segments")) {
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto at = bytes.find(std::string(1000, 'a'));
    if (at != std::string::npos) {
      f.seekp(static_cast<std::streamoff>(at + 10));
      f.put('X');
    }
  }
  auto s = open_store(d.path());
  CHECK(code_of(s->get({src, a.hash}).error()) == ec::corrupt);
  CHECK(s->get({src, b.hash}).value() == b.data);
}

TEST_CASE("a file is streamed into the store under its hash, and stored once") {
  tmpdir d;
  auto s = open_store(d / "store");
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>((i * 7919) >> 3);
  test::write_file(d / "big.bin", data);
  int fd = ::open((d / "big.bin").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto hash = s->put_file(src, fd, data.size());
  REQUIRE(hash);
  CHECK(*hash == sha256_hex(data));
  auto back = s->get({src, *hash});
  REQUIRE(back);
  CHECK(*back == data);
  auto segments = [&] {
    uint64_t total = 0;
    for (auto& e : std::filesystem::directory_iterator(d / "store/segments"))
      total += e.file_size();
    return total;
  };
  auto before = segments();
  CHECK(s->put_file(src, fd, data.size()) == hash); // known: nothing written again
  CHECK(segments() == before);
  // a file shorter than said fails, and leaves nothing behind
  auto short_file = s->put_file(src, fd, data.size() + 10);
  CHECK_FALSE(short_file);
  CHECK(segments() == before);
  // directory nodes are not files
  CHECK_FALSE(s->put_file(tre, fd, data.size()));
  ::close(fd);
}
