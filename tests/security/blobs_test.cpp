// Point 9 of tenant isolation: shared storage does not leak between
// tenants. A tenant who knows the hash of another's file, or the root of
// another's tree (from a leaked manifest, say), can neither learn that it
// is stored, nor seal it into a deployment of its own, nor read it; with
// the bytes in hand, it may upload and use them, and they are stored once.
#include "storage/sha256.hpp"
#include "storage/tree.hpp"
#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace ferry;
using namespace ferry::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

uint64_t segment_bytes(const std::string& data_dir) {
  uint64_t total = 0;
  for (auto& e : fs::directory_iterator(data_dir + "/cas/segments"))
    total += e.file_size();
  return total;
}

} // namespace

TEST_CASE("a tenant can neither learn of, seal nor read another tenant's blobs", "[security]") {
  tenant_cluster c;
  auto victim = c.add_user("victim");
  auto mallory = c.add_user("mallory");
  const std::string secret = "victim's private key material 7c1d\n" + std::string(100000, 'k');
  write_file(c.dir / "victim/index.html", "public\n");
  write_file(c.dir / "victim/key.pem", secret);
  c.deploy_ok(c.dir / "victim", "vault", victim);
  auto v = c.newest_version("vault", victim);
  auto root = v["root"].get<std::string>();
  auto file = sha256_hex(secret);

  // missing: the victim's blobs look exactly like blobs nobody stored
  auto unknown = sha256_hex("nobody stored this");
  auto missing = c.node->api_as(mallory, "POST", "/v1/missing",
                                json{{"source", {file, unknown}}, {"tree", {root}}}.dump());
  REQUIRE(missing.status == 200);
  auto m = json::parse(missing.body);
  CHECK(m["source"] == json({file, unknown}));
  CHECK(m["tree"] == json({root}));
  // (the victim sees its own as stored)
  auto own = json::parse(
      c.node
          ->api_as(victim, "POST", "/v1/missing", json{{"source", {file}}, {"tree", {root}}}.dump())
          .body);
  CHECK(own["source"].empty());
  CHECK(own["tree"].empty());

  // seal the victim's root into a project of mallory's: refused, nothing built
  auto by_root = c.node->api_as(mallory, "POST", "/v1/projects/grab/versions?seal=1",
                                json{{"root", root}}.dump());
  CHECK(by_root.status == 409);
  CHECK(api_error(by_root).first == "missing_blobs");
  // a manifest that names the victim's file
  auto by_manifest = c.node->api_as(
      mallory, "POST", "/v1/projects/grab/versions?seal=1",
      json{{"files", {{{"path", "key.pem"}, {"hash", file}, {"size", secret.size()}}}}}.dump());
  CHECK(by_manifest.status == 409);
  // a directory node of mallory's own that names the victim's file: refused
  // just as one that names a file nobody stored (no way to learn it is there)
  auto node_of = [&](const std::string& hash) {
    return encode_tree({tree_entry{entry_kind::file, secret.size(), hash, "key.pem"}});
  };
  auto put_node = [&](const std::string& node) {
    return c.node->api_as(mallory, "PUT", "/v1/blobs/tree/" + sha256_hex(node), node,
                          "application/octet-stream");
  };
  auto theirs = put_node(node_of(file)), nobodys = put_node(node_of(unknown));
  CHECK(theirs.status == 409);
  CHECK(nobodys.status == 409);
  CHECK(api_error(theirs).first == "missing_blobs");
  CHECK(api_error(theirs).second.substr(0, 40) == api_error(nobodys).second.substr(0, 40));
  // nor list another's tree through a version of one's own, sealed or not
  auto unsealed =
      c.node->api_as(mallory, "POST", "/v1/projects/grab/versions", json{{"root", root}}.dump());
  CHECK(unsealed.status == 409);
  CHECK(c.node->api_as(mallory, "GET", "/v1/projects/grab/versions").status == 404);
  // and raw reads are for admins
  CHECK(c.node->api_as(mallory, "GET", "/v1/blobs/source/" + file).status == 403);

  // a guess uploaded: the answer counts it new to mallory, as for bytes nobody
  // stored (that the victim's was there does not show)
  auto put = c.node->api_as(mallory, "PUT", "/v1/blobs/source/" + file, secret);
  REQUIRE(put.status == 201);
  CHECK(json::parse(put.body)["stored"] == 1);
  CHECK(json::parse(put.body)["bytes"] == secret.size());
  auto again = c.node->api_as(mallory, "PUT", "/v1/blobs/source/" + file, secret);
  CHECK(json::parse(again.body)["stored"] == 0); // hers now
  auto fresh = std::string("nobody's bytes before");
  auto put2 = c.node->api_as(mallory, "PUT", "/v1/blobs/source/" + sha256_hex(fresh), fresh);
  CHECK(json::parse(put2.body)["stored"] == 1);

  // with the bytes in hand, mallory uploads them herself: stored once, and hers to use
  auto before = segment_bytes(c.node->data_dir);
  write_file(c.dir / "copy/key.pem", secret);
  c.deploy_ok(c.dir / "copy", "copy", mallory);
  CHECK(segment_bytes(c.node->data_dir) - before < secret.size());
}
