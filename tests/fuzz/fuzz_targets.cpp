#include "tests/fuzz/fuzz_targets.hpp"

#include "actors/cluster_config.hpp"
#include "actors/http_routes.hpp"
#include "deployers/local/http_text.hpp"
#include "storage/blob_store.hpp"
#include "storage/tree.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <string>

namespace ferry::fuzz {

namespace {
void require(bool ok) {
  if (!ok)
    std::abort();
}
} // namespace

int tree_node(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<tree_entry> entries;
  if (parse_tree(in, entries).empty())
    require(encode_tree(entries) == in); // only the canonical form is accepted
  return 0;
}

int blob_pack(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<blob_view> views;
  std::vector<std::string> hashes;
  bool truncated = false;
  if (parse_blob_pack(in, views, hashes, truncated).empty()) {
    require(!views.empty());
    for (auto& v : views)
      require(v.data.data() >= in.data() && v.data.data() + v.data.size() <= in.data() + in.size());
  }
  return 0;
}

int manifest(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto type = (data[0] & 1) ? "application/x-ferry-manifest" : "application/json";
  std::vector<flat_entry> entries;
  if (parse_manifest_body(type, body, entries).empty()) {
    built_tree tree;
    if (!build_tree(entries, tree))
      require(!tree.root.empty() && tree.nodes.back().path.empty());
  }
  return 0;
}

int cluster_config(const uint8_t* data, size_t size) {
  auto c = parse_cluster_config(std::string(reinterpret_cast<const char*>(data), size));
  if (c)
    require(!c->nodes.empty());
  return 0;
}

int router_text(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out;
  if (runtime::percent_decode(in, out))
    require(out.size() <= in.size() && out.find('\0') == std::string::npos);
  // an escaped string is always valid JSON (strict UTF-8) ...
  std::string text = "\"";
  runtime::json_escape(text, in);
  text += '"';
  auto j = nlohmann::json::parse(text, nullptr, false);
  require(j.is_string());
  // ... and gives back the input whenever the input was UTF-8
  bool utf8 = true;
  for (size_t i = 0; i < in.size() && utf8;) {
    auto n = runtime::utf8_length(in.substr(i));
    utf8 = n > 0;
    i += n;
  }
  if (utf8)
    require(j.get<std::string>() == in);
  return 0;
}

} // namespace ferry::fuzz
