#pragma once
// The parsers of untrusted bytes, as fuzz entry points. Each must survive
// any input without crashing, hanging or leaking; where a parser accepts
// input, its invariant is checked (abort on violation).
#include <cstddef>
#include <cstdint>

namespace ferry::fuzz {
int tree_node(const uint8_t* data, size_t size); ///< parse_tree: accepted == canonical
int blob_pack(const uint8_t* data, size_t size); ///< parse_blob_pack: views stay in the body
int manifest(const uint8_t* data, size_t size); ///< JSON and Cap'n Proto manifests, then build_tree
int cluster_config(const uint8_t* data, size_t size); ///< cluster.conf
int router_text(const uint8_t* data, size_t size);
int proxy_request(const uint8_t* data, size_t size);
int client_hello(const uint8_t* data, size_t size); ///< read_client_hello: a name or nothing
int npmrc(const uint8_t* data, size_t size);
int cookie(const uint8_t* data, size_t size);
int secret_mask(const uint8_t* data, size_t size);
int host_names(const uint8_t* data, size_t size); ///< percent_decode, json_escape (stays JSON)
int lockfile(const uint8_t* data, size_t size);   ///< git_dependency: SAX, bounded depth
int masker(const uint8_t* data, size_t size);     ///< masker against a plain search
int routes(const uint8_t* data, size_t size);     ///< parse_routes, then a request through them
} // namespace ferry::fuzz
