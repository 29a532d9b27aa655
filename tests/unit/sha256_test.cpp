#include "storage/sha256.hpp"

#include <catch2/catch.hpp>

using namespace ferry;

TEST_CASE("sha256 matches the published test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("streamed hashing equals one-shot hashing") {
  std::string data(1 << 20, 'x');
  sha256_stream s;
  s.update(data.data(), 1000);
  s.update(data.data() + 1000, data.size() - 1000);
  CHECK(to_hex(s.finish()) == sha256_hex(data));
}

TEST_CASE("hashes are exactly 64 lower-case hex digits") {
  auto h = sha256_hex("x");
  digest d;
  CHECK(is_hash_hex(h));
  CHECK(hash_from_hex(h, d));
  CHECK(to_hex(d) == h);
  CHECK_FALSE(is_hash_hex(h.substr(1)));
  auto upper = h;
  upper[0] = 'A';
  CHECK_FALSE(is_hash_hex(upper));
  CHECK_FALSE(hash_from_hex(upper, d));
  auto bad = h;
  bad[63] = 'g';
  CHECK_FALSE(is_hash_hex(bad));
}

TEST_CASE("hex encoding of arbitrary bytes round-trips and rejects odd input") {
  std::string bytes("a\0b\xff", 4);
  std::string back;
  CHECK(hex_decode(hex_encode(bytes), back));
  CHECK(back == bytes);
  CHECK_FALSE(hex_decode("abc", back));
  CHECK_FALSE(hex_decode("zz", back));
}
