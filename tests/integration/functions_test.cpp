// Functions as Vercel's Node.js runtime runs them, through real ferryd and
// ferry processes: file-system routes, Web-standard handlers, the raw body,
// streamed answers and their limits, waitUntil.
#include "tests/integration/runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

using namespace ferry::test;
using json = nlohmann::json;

TEST_CASE(
    "functions as Vercel's Node runtime runs them: file-system routes, Web handlers, the "
    "raw body, streaming and waitUntil",
    "[runtime]") {
  runtime_fixture f;
  auto d = f.deploy(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/vercel-functions", "vfn");
  auto at = [&](const std::string& path) { return d.out + path; };
  // file-system routing
  CHECK(http("GET", at("/api")).body == "api index");
  CHECK(http("GET", at("/api/")).body == "api index");
  auto user = json::parse(http("GET", at("/api/users/42?id=spoofed&x=a%20b~&flag")).body);
  CHECK(user["id"] == "42");                                 // the path's, not the query's
  CHECK(user["url"] == "/api/users/42?x=a%20b~&flag&id=42"); // the rest as the client wrote it
  // the router matches the decoded path: so does the parameter
  auto encoded = json::parse(http("GET", at("/api/%75sers/4%322?id=admin")).body);
  CHECK(encoded["id"] == "422");
  CHECK(http("GET", at("/api/users/me")).body == "the static route wins");
  CHECK(http("GET", at("/api/users/a/b")).status == 404);
  CHECK(json::parse(http("GET", at("/api/files/a/b%20c")).body)["path"] == "a/b c");
  CHECK(http("GET", at("/api/files")).status == 404); // a catch-all needs a segment
  CHECK(json::parse(http("GET", at("/api/opt")).body)["rest"] == nullptr);
  CHECK(json::parse(http("GET", at("/api/opt/x/y")).body)["rest"] == "x/y");

  // Web handlers: named methods, { fetch }, a default function of a Request
  auto get = run({"/usr/bin/curl", "-s", "-i", at("/api/web?name=ferry")}, {}, f.dir.path());
  CHECK_THAT(get.out, Catch::Contains("x-handler: GET") && Catch::EndsWith("hello ferry"));
  auto post = run({"/usr/bin/curl", "-s", "-i", "-X", "POST", "-H",
                   "content-type: application/json", "--data", R"({"a":1})", at("/api/web")},
                  {}, f.dir.path());
  CHECK_THAT(post.out, Catch::StartsWith("HTTP/1.1 201") && Catch::Contains("set-cookie: a=1") &&
                           Catch::Contains("set-cookie: b=2") &&
                           Catch::Contains(R"({"got":{"a":1},"method":"POST"})"));
  auto put = run({"/usr/bin/curl", "-s", "-i", "-X", "PUT", at("/api/web")}, {}, f.dir.path());
  CHECK_THAT(put.out, Catch::StartsWith("HTTP/1.1 405") && Catch::Contains("allow: GET, POST"));
  auto fetched = json::parse(http("DELETE", at("/api/fetch")).body);
  CHECK(fetched["via"] == "fetch");
  CHECK(fetched["method"] == "DELETE");
  CHECK(fetched["path"] == "/api/fetch");
  CHECK(http("POST", at("/api/request"), "plain words", "", "text/plain").body ==
        "text: plain words");

  // the raw body stays readable as a stream, and req.body parses it
  std::string body = R"({"event":"paid","amount":42})";
  auto raw = json::parse(http("POST", at("/api/raw"), body).body);
  CHECK(raw["bytes"] == body.size());
  auto expect =
      run({"/bin/sh", "-c",
           "printf '%s' '" + body + "' | openssl dgst -sha256 -hmac whsec -r | cut -c1-64"},
          {}, f.dir.path());
  CHECK(raw["sig"] == expect.out.substr(0, 64));
  CHECK(raw["parsed"]["amount"] == 42);

  // a streamed response arrives in pieces, the first before the last is made
  auto streamed = run({"/usr/bin/curl", "-s", "-N", "-w", "\\n%{time_starttransfer} %{time_total}",
                       at("/api/stream")},
                      {}, f.dir.path());
  CHECK_THAT(streamed.out, Catch::StartsWith("chunk 0\nchunk 1\nchunk 2\n"));
  auto times = streamed.out.substr(streamed.out.rfind('\n') + 1);
  double first = std::stod(times), total = std::stod(times.substr(times.find(' ') + 1));
  INFO("first byte " << first << " s, all " << total << " s");
  CHECK(total - first > 0.08); // (the two later chunks came 50 ms apart each)

  // a stream without end: HEAD answers the head at once, and the next request
  // on the same connection is answered (nothing of the stream is left behind)
  auto two = run({"/usr/bin/curl", "-s", "-m", "5", "-I", at("/api/ticks"), "--next", "-s", "-m",
                  "5", at("/api/web?name=after")},
                 {}, f.dir.path());
  CHECK(two.exit_code == 0);
  CHECK_THAT(two.out, Catch::StartsWith("HTTP/1.1 200") && Catch::EndsWith("hello after"));
  // a client that goes away stops the stream it read (its cancel runs)
  auto cut = run({"/usr/bin/curl", "-s", "-N", "-m", "0.5", at("/api/ticks")}, {}, f.dir.path());
  CHECK_THAT(cut.out, Catch::StartsWith("data: 0\n\n"));
  std::string active;
  for (int i = 0; i < 40 && active != "0"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    active = http("GET", at("/api/ticks?active")).body;
  }
  CHECK(active == "0");

  // waitUntil: the answer does not wait, the work still ends
  auto t0 = std::chrono::steady_clock::now();
  CHECK(http("GET", at("/api/later")).body == "answered before the work ended");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(250)); // (work: 300 ms)
  CHECK(http("GET", at("/api/later?count")).body == "0");
  // (within --function-idle-ms, 800 ms here: the instance still runs)
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(http("GET", at("/api/later?count")).body == "1");
}

TEST_CASE(
    "a streamed answer is relayed as it comes and cut at the response limit and at "
    "maxDuration",
    "[runtime]") {
  runtime_fixture f;
  auto p = f.dir / "streams";
  write_file(p + "/ferry.json", R"({"functions": {"api/forever.js": {"maxDuration": 1}}})");
  // 40 MiB in chunks of 1 MiB: over the 32 MiB a function may answer
  write_file(p + "/api/flood.js", R"(
module.exports = async (req, res) => {
  res.setHeader('content-type', 'application/octet-stream');
  const mb = Number(req.query.mb || 40);
  for (let i = 0; i < mb; i++)
    if (!res.write(Buffer.alloc(1 << 20, 120))) await new Promise((r) => res.once('drain', r));
  res.end();
};)");
  // a chunk every 100 ms, without end
  write_file(p + "/api/forever.js", R"(
module.exports = (req, res) => {
  res.setHeader('content-type', 'text/plain');
  let n = 0;
  const tick = () => { res.write(`tick ${n++}\n`); setTimeout(tick, 100); };
  tick();
};)");
  write_file(p + "/api/ok.js", "module.exports = (req, res) => res.end('ok');\n");
  auto url = f.deploy(p, "streams").out;

  auto fine = run(
      {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", url + "/api/flood?mb=8"},
      {}, f.dir.path());
  CHECK(fine.exit_code == 0);
  CHECK(fine.out == std::to_string(8 << 20));
  auto over =
      run({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", url + "/api/flood"},
          {}, f.dir.path());
  INFO("over the limit: curl exit " << over.exit_code << ", " << over.out << " bytes");
  CHECK(over.exit_code != 0); // cut: the chunked answer never ends
  CHECK(std::stoull(over.out) <= (32ULL << 20));
  CHECK(std::stoull(over.out) > (8ULL << 20));

  auto t0 = std::chrono::steady_clock::now();
  auto forever =
      run({"/usr/bin/curl", "-s", "-N", "-m", "10", url + "/api/forever"}, {}, f.dir.path());
  auto took = std::chrono::steady_clock::now() - t0;
  INFO("maxDuration: curl exit "
       << forever.exit_code << " after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
       << " ms: " << forever.out);
  CHECK(forever.exit_code != 0); // cut, not ended
  CHECK_THAT(forever.out, Catch::StartsWith("tick 0\ntick 1\n"));
  CHECK(took < std::chrono::seconds(3));
  CHECK(took > std::chrono::milliseconds(900));
  CHECK(http("GET", url + "/api/ok").body == "ok"); // the deployment still serves
}
