#pragma once
// Cap'n Proto records as bytes: what ferry stores in RocksDB and sends as
// compact bodies. Readers need 8-byte aligned words, and bytes from RocksDB
// or a request body are not aligned, so reading copies them into words.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ferry {

/// The flat bytes of a message.
inline std::string to_bytes(capnp::MessageBuilder& mb) {
  auto words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

/// Calls f with a reader over bytes of any alignment and returns its result.
/// Throws kj::Exception on garbage: catch it wherever the bytes are untrusted.
template <class F>
auto with_reader(std::string_view bytes, F&& f,
                 capnp::ReaderOptions options = capnp::ReaderOptions{}) {
  auto words = kj::heapArray<capnp::word>((bytes.size() + 7) / 8);
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::FlatArrayMessageReader reader(words, options);
  return f(reader);
}

/// A key that sorts by prefix, then by number: prefix, NUL, big-endian n.
inline std::string sequence_key(std::string_view prefix, uint64_t n) {
  std::string k(prefix);
  k += '\0';
  for (int i = 7; i >= 0; --i)
    k += static_cast<char>((n >> (8 * i)) & 0xff);
  return k;
}

} // namespace ferry
