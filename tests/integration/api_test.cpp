// Every bad input of the API is refused with a 4xx, a stable error code and
// a one-line reason, and leaves no trace in storage.
#include "storage/sha256.hpp"
#include "tests/support/node.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace ferry;
using namespace ferry::test;
using json = nlohmann::json;

namespace {

struct fixture {
  tmpdir dir;
  ferryd_node node{dir / "data", dir.path()};

  /// True if the server stores this source blob.
  bool stored(const std::string& hash) {
    auto r = node.api("POST", "/v1/missing", json{{"source", {hash}}}.dump());
    REQUIRE(r.status == 200);
    return json::parse(r.body)["source"].empty();
  }
  size_t versions(const std::string& project) {
    auto r = node.api("GET", "/v1/projects/" + project + "/versions");
    if (r.status == 404)
      return 0;
    REQUIRE(r.status == 200);
    return json::parse(r.body)["versions"].size();
  }
  bool project_exists(const std::string& project) {
    return node.api("GET", "/v1/projects/" + project).status == 200;
  }
  std::string put(const std::string& data) {
    auto h = sha256_hex(data);
    auto r = node.api("PUT", "/v1/blobs/source/" + h, data, "application/octet-stream");
    REQUIRE(r.status == 201);
    return h;
  }
};

/// Checks a refusal: status, code, and a one-line message.
void refused(const reply& r, long status, const std::string& code) {
  INFO(r.body);
  CHECK(r.status == status);
  auto [c, msg] = api_error(r);
  CHECK(c == code);
  CHECK_FALSE(msg.empty());
  CHECK(msg.find('\n') == std::string::npos);
}

std::string manifest_of(const std::vector<json>& files) {
  json doc;
  doc["files"] = json(files);
  doc["seal"] = true;
  return doc.dump();
}

std::string pack_record(uint8_t ns, const std::string& hash, const std::string& data,
                        uint64_t announced) {
  digest d;
  hash_from_hex(hash, d);
  std::string out(1, static_cast<char>(ns));
  out.append(reinterpret_cast<const char*>(d.data()), 32);
  out.append(reinterpret_cast<const char*>(&announced), 8);
  out += data;
  return out;
}

} // namespace

TEST_CASE_METHOD(fixture, "a good manifest seals and its version can be inspected") {
  auto h = put("hello\n");
  auto r = node.api("POST", "/v1/projects/demo/versions",
                    manifest_of({{{"path", "a/b.txt"}, {"hash", h}, {"size", 6}},
                                 {{"path", "l"}, {"symlink", "a/b.txt"}}}));
  REQUIRE(r.status == 201);
  auto v = json::parse(r.body);
  CHECK(v["state"] == "queued"); // sealed, and a build of it queued at once
  CHECK(v["sealed_ms"].get<int64_t>() > 0);
  CHECK(v["files"] == 2);
  auto files = node.api("GET", "/v1/versions/" + v["id"].get<std::string>() + "/files");
  REQUIRE(files.status == 200);
  CHECK(json::parse(files.body)["files"].size() == 2);
}

TEST_CASE_METHOD(fixture, "manifests with bad paths are refused and create nothing") {
  auto h = put("x");
  auto file = [&](const std::string& path) {
    return json{{"path", path}, {"hash", h}, {"size", 1}};
  };
  refused(node.api("POST", "/v1/projects/p1/versions", manifest_of({file("../etc/passwd")})), 400,
          "bad_path");
  refused(node.api("POST", "/v1/projects/p1/versions", manifest_of({file("/etc/passwd")})), 400,
          "bad_path");
  refused(node.api("POST", "/v1/projects/p1/versions", manifest_of({file("")})), 400, "bad_path");
  refused(node.api("POST", "/v1/projects/p1/versions", manifest_of({file(std::string("a\0b", 3))})),
          400, "bad_path");
  refused(node.api("POST", "/v1/projects/p1/versions", manifest_of({file("a/b"), file("a/b")})),
          400, "bad_path");
  refused(node.api("POST", "/v1/projects/p1/versions",
                   manifest_of({{{"path", "ln"}, {"symlink", "../../etc/passwd"}}})),
          400, "bad_symlink");
  CHECK_FALSE(project_exists("p1"));
}

TEST_CASE_METHOD(fixture, "a manifest naming a blob never uploaded cannot be sealed") {
  auto present = put("present");
  auto absent = sha256_hex("never uploaded");
  refused(node.api("POST", "/v1/projects/p2/versions",
                   manifest_of({{{"path", "a"}, {"hash", present}, {"size", 7}},
                                {{"path", "b"}, {"hash", absent}, {"size", 3}}})),
          409, "missing_blobs");
  CHECK_FALSE(project_exists("p2"));
  // created unsealed, it stays unsealed until the blob arrives
  auto r = node.api("POST", "/v1/projects/p2/versions",
                    json{{"files", {{{"path", "b"}, {"hash", absent}, {"size", 14}}}}}.dump());
  REQUIRE(r.status == 201);
  auto id = json::parse(r.body)["id"].get<std::string>();
  refused(node.api("POST", "/v1/versions/" + id + "/seal"), 409, "missing_blobs");
  CHECK(json::parse(node.api("GET", "/v1/versions/" + id).body)["state"] == "created");
  put("never uploaded");
  REQUIRE(node.api("POST", "/v1/versions/" + id + "/seal").status == 200);
  // after sealing nothing can change it
  refused(node.api("POST", "/v1/versions/" + id + "/seal"), 409, "conflict");
  // a root that is not stored cannot be sealed either
  refused(node.api("POST", "/v1/projects/p3/versions",
                   json{{"root", sha256_hex("no such tree")}, {"seal", true}}.dump()),
          409, "missing_blobs");
  CHECK_FALSE(project_exists("p3"));
}

TEST_CASE_METHOD(fixture, "a body whose hash differs from its name is refused and not stored") {
  auto claimed = sha256_hex("what I promise");
  refused(node.api("PUT", "/v1/blobs/source/" + claimed, "what I send", "application/octet-stream"),
          400, "hash_mismatch");
  CHECK_FALSE(stored(claimed));
  CHECK_FALSE(stored(sha256_hex("what I send")));
  // in a pack, one bad record refuses the whole pack
  auto good = std::string("good one");
  auto pack = pack_record(0, sha256_hex(good), good, good.size()) +
              pack_record(0, claimed, "what I send", 11);
  refused(node.api("POST", "/v1/blobs", pack, "application/x-ferry-blob-pack"), 400,
          "hash_mismatch");
  CHECK_FALSE(stored(sha256_hex(good)));
}

TEST_CASE_METHOD(fixture, "a truncated body is refused and not stored") {
  auto data = std::string(1000, 'q');
  auto h = sha256_hex(data);
  // a pack record announcing more bytes than the body holds
  refused(node.api("POST", "/v1/blobs", pack_record(0, h, data.substr(0, 500), 1000),
                   "application/x-ferry-blob-pack"),
          400, "truncated_body");
  CHECK_FALSE(stored(h));
  // a connection that closes before its Content-Length is complete
  auto partial = "PUT /v1/blobs/source/" + h + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                 node.token + "\r\nContent-Length: 1000\r\n\r\n" + data.substr(0, 400);
  raw_exchange(node.url, partial, true, 1000);
  CHECK_FALSE(stored(h));
  // a large body cut short (the direct read path)
  auto big = std::string(200000, 'w');
  auto bh = sha256_hex(big);
  raw_exchange(node.url,
               "PUT /v1/blobs/source/" + bh + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                   node.token + "\r\nContent-Length: 200000\r\n\r\n" + big.substr(0, 150000),
               true, 1000);
  CHECK_FALSE(stored(bh));
}

TEST_CASE_METHOD(fixture, "malformed and oversized requests are refused") {
  refused(node.api("POST", "/v1/projects/p4/versions", "{not json"), 400, "bad_request");
  refused(node.api("POST", "/v1/projects/p4/versions", "[1,2]"), 400, "bad_request");
  refused(node.api("POST", "/v1/projects/p4/versions", json{{"files", "nope"}}.dump()), 400,
          "bad_request");
  refused(node.api("POST", "/v1/projects/p4/versions", json{{"root", "abc"}}.dump()), 400,
          "bad_request");
  refused(
      node.api("POST", "/v1/projects/Bad_Name/versions", json{{"root", sha256_hex("r")}}.dump()),
      400, "bad_request");
  refused(node.api("POST", "/v1/missing", json{{"source", {"zz"}}}.dump()), 400, "bad_request");
  refused(node.api("POST", "/v1/blobs", "short", "application/x-ferry-blob-pack"), 400,
          "truncated_body");
  refused(node.api("POST", "/v1/projects/p4/versions", "\x01\x02garbage",
                   "application/x-ferry-manifest"),
          400, "bad_request");
  CHECK_FALSE(project_exists("p4"));
  // over the 64 MiB body limit: refused from the header, before any body is read
  auto answer = raw_exchange(node.url,
                             "PUT /v1/blobs/source/" + sha256_hex("big") +
                                 " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + node.token +
                                 "\r\nContent-Length: 70000000\r\n\r\n",
                             false, 2000);
  CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 413"));
  CHECK_THAT(answer, Catch::Contains("\"too_large\""));
  // a request line that is not HTTP at all
  CHECK_THAT(raw_exchange(node.url, "BLAH\r\n\r\n", true), Catch::StartsWith("HTTP/1.1 400"));
}

TEST_CASE_METHOD(fixture, "requests without a valid token are refused") {
  refused(http("GET", node.url + "/v1/projects"), 401, "unauthorized");
  refused(http("GET", node.url + "/v1/projects", "", "fry_0000"), 401, "unauthorized");
  auto h = sha256_hex("anon");
  refused(http("PUT", node.url + "/v1/blobs/source/" + h, "anon", "", "application/octet-stream"),
          401, "unauthorized");
  CHECK_FALSE(stored(h));
  CHECK(http("GET", node.url + "/healthz").status == 200);
}

TEST_CASE_METHOD(fixture, "a token cannot touch another user's project") {
  auto made = node.api("POST", "/v1/users", json{{"name", "mallory"}}.dump());
  REQUIRE(made.status == 201);
  auto mallory = json::parse(made.body)["token"].get<std::string>();
  auto h = put("admin's file");
  auto r = node.api("POST", "/v1/projects/site/versions",
                    manifest_of({{{"path", "index.html"}, {"hash", h}, {"size", 12}}}));
  REQUIRE(r.status == 201);
  auto id = json::parse(r.body)["id"].get<std::string>();
  // admin's blob is not mallory's to seal, though its bytes are stored
  refused(node.api_as(mallory, "POST", "/v1/projects/mine/versions",
                      manifest_of({{{"path", "index.html"}, {"hash", h}, {"size", 12}}})),
          409, "missing_blobs");
  // with her own copy of the bytes: the name is taken (nothing else of the project shows)
  REQUIRE(node.api_as(mallory, "PUT", "/v1/blobs/source/" + h, "admin's file",
                      "application/octet-stream")
              .status == 201);
  refused(node.api_as(mallory, "POST", "/v1/projects/site/versions",
                      manifest_of({{{"path", "index.html"}, {"hash", h}, {"size", 12}}})),
          409, "conflict");
  refused(node.api_as(mallory, "GET", "/v1/projects/site/versions"), 404, "not_found");
  refused(node.api_as(mallory, "GET", "/v1/versions/" + id), 404, "not_found");
  refused(node.api_as(mallory, "POST", "/v1/users", json{{"name", "eve"}}.dump()), 403,
          "forbidden");
  refused(node.api_as(mallory, "GET", "/v1/admin/actors"), 403, "forbidden");
  CHECK(versions("site") == 1);
  // mallory sees only her own projects
  CHECK(json::parse(node.api_as(mallory, "GET", "/v1/projects").body)["projects"].empty());
}
