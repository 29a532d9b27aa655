#pragma once
// Secrets at rest: AES-256-GCM under a node key kept in a 0600 file.
// A sealed value is nonce (12 bytes) | ciphertext | tag (16 bytes); the
// associated data binds it to where it belongs (a value moved to another
// variable or project does not open).
#include <caf/expected.hpp>

#include <string>

namespace ferry {

/// The 32-byte key in path, created (random, mode 0600) if absent.
caf::expected<std::string> load_or_create_key(const std::string& path);

std::string seal_secret(const std::string& key, const std::string& plain, const std::string& aad);

/// The plain text, or corrupt if the key, the data or aad do not match.
caf::expected<std::string> open_secret(const std::string& key, const std::string& sealed,
                                       const std::string& aad);

} // namespace ferry
