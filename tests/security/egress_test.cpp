// Point 3 of tenant isolation: the dependency install reaches the package
// registry and nothing else; a build step reaches the build list only
// (build_egress_allow: Google Fonts by default), the whole allow-list when
// its project asks and the operator allows. The
// attacks: a lockfile whose packages "resolve" to ferryd's own ports or
// another loopback port, a project .npmrc whose git program phones a local
// port, and a build that tries every way out.
#include "tests/security/tenant.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <thread>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

/// A loopback port that counts who connects to it (another tenant's
/// service, say).
struct witness {
  int port = 0;
  int fd = listen_loopback(port);
  std::atomic<int> connections{0};
  std::atomic<bool> stop{false};
  std::thread t{[this] {
    while (!stop) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) == 1) {
        int c = ::accept(fd, nullptr, nullptr);
        if (c >= 0) {
          ++connections;
          ::close(c);
        }
      }
    }
  }};
  ~witness() {
    stop = true;
    t.join();
    ::close(fd);
  }
};

std::string port_of(const std::string& url) {
  return url.substr(url.rfind(':') + 1);
}

/// A package-lock.json whose packages are fetched from these URLs.
std::string lockfile_from(const std::vector<std::string>& urls) {
  std::string deps, packages;
  for (size_t i = 0; i < urls.size(); ++i) {
    auto name = "dep" + std::to_string(i);
    deps += std::string(i ? "," : "") + "\"" + name + "\":\"1.0.0\"";
    packages += ",\"node_modules/" + name + "\":{\"version\":\"1.0.0\",\"resolved\":\"" + urls[i] +
                "\",\"integrity\":\"sha512-" + std::string(86, 'A') + "==\"}";
  }
  return R"({"name":"x","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"x","version":"1.0.0","dependencies":{)" +
         deps + "}}" + packages + "}}";
}

std::string package_json(const std::vector<std::string>& urls) {
  std::string deps;
  for (size_t i = 0; i < urls.size(); ++i)
    deps += std::string(i ? "," : "") + "\"dep" + std::to_string(i) + "\":\"1.0.0\"";
  return R"({"name":"x","version":"1.0.0","dependencies":{)" + deps + "}}";
}

} // namespace

TEST_CASE(
    "the dependency install reaches the registry but not ferryd, its router or another "
    "loopback port",
    "[security]") {
  tenant_cluster c;
  auto mallory = c.add_user("mallory");
  witness other;
  auto api = port_of(c.node->url), router = port_of(c.node->router_url),
       local = std::to_string(other.port);

  SECTION("a lockfile's packages at loopback addresses are refused") {
    auto p = c.dir / "lock";
    std::vector<std::string> urls{"http://127.0.0.1:" + local + "/dep0.tgz",
                                  "http://127.0.0.1:" + api + "/v1/whoami",
                                  "http://localhost:" + router + "/dep2.tgz"};
    write_file(p + "/package.json", package_json(urls));
    write_file(p + "/package-lock.json", lockfile_from(urls));
    write_file(p + "/index.html", "x");
    auto r = c.deploy(p, "lock", mallory);
    CHECK(r.exit_code != 0);
    auto log = c.build_log("lock", mallory);
    INFO(log);
    CHECK(log.find("ferry: egress refused: GET 127.0.0.1:" + local) != std::string::npos);
    CHECK(log.find("install dependencies exit") != std::string::npos);
    CHECK(other.connections == 0);
  }

  SECTION("a project's .npmrc cannot make npm run its program") {
    auto p = c.dir / "npmrc";
    fs::copy(c.attack("egress"), p, fs::copy_options::recursive);
    std::string dep =
        "git+ssh://git@example.invalid/dep.git#0123456789abcdef0123456789abcdef01234567";
    write_file(p + "/package.json",
               R"({"name":"x","version":"1.0.0","dependencies":{"dep":")" + dep + "\"}}");
    write_file(
        p + "/package-lock.json",
        R"({"name":"x","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"x","version":"1.0.0","dependencies":{"dep":")" +
            dep + R"("}},"node_modules/dep":{"version":"1.0.0","resolved":")" + dep + "\"}}}");
    write_file(p + "/.npmrc",
               "git=./evil.sh\nscript-shell=./evil.sh\nregistry=https://registry.npmjs.org/\n");
    write_file(p + "/evil.sh", "#!/bin/sh\nnode /work/src/knock.js " + local + "\nexit 1\n");
    fs::permissions(p + "/evil.sh", fs::perms::owner_all, fs::perm_options::add);
    write_file(p + "/index.html", "x");
    auto r = c.deploy(p, "npmrc", mallory);
    CHECK(r.exit_code != 0); // the git dependency cannot be fetched
    auto log = c.build_log("npmrc", mallory);
    INFO(log);
    CHECK(log.find(".npmrc: 'git' is ignored") != std::string::npos);
    CHECK(log.find(".npmrc: 'script-shell' is ignored") != std::string::npos);
    CHECK(log.find(".npmrc: 'registry'") == std::string::npos); // kept
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(other.connections == 0);
  }

  SECTION("a git dependency is refused before anything runs") {
    // (npm ci --ignore-scripts would clone it and run its prepare script
    // through an npm of its own that reads the clone's .npmrc)
    auto p = c.dir / "gitdep";
    fs::copy(c.attack("egress"), p, fs::copy_options::recursive);
    std::string dep = "git+file:///work/src/evil.git#0123456789abcdef0123456789abcdef01234567";
    write_file(p + "/package.json",
               R"({"name":"x","version":"1.0.0","dependencies":{"evil":")" + dep + "\"}}");
    write_file(
        p + "/package-lock.json",
        R"({"name":"x","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"x","version":"1.0.0","dependencies":{"evil":")" +
            dep + R"("}},"node_modules/evil":{"version":"1.0.0","resolved":")" + dep + "\"}}}");
    write_file(p + "/index.html", "x");
    auto r = c.deploy(p, "gitdep", mallory);
    CHECK(r.exit_code != 0);
    auto log = c.build_log("gitdep", mallory);
    INFO(log);
    CHECK(log.find("package-lock.json installs git+file:///work/src/evil.git") !=
          std::string::npos);
    CHECK(log.find("git dependencies run code while they install") != std::string::npos);
    CHECK(log.find("npm ci") == std::string::npos); // refused before npm ran
  }

  SECTION("packages from the registry install") {
    auto url =
        c.deploy_ok(std::string(FERRY_SOURCE_DIR) + "/tests/fixtures/node-fn", "fn", mallory);
    auto log = c.build_log("fn", mallory);
    INFO(log);
    CHECK(log.find("dependency cache miss") != std::string::npos);
    CHECK(log.find("egress refused") == std::string::npos);
    CHECK(fetch(url + "/api/check?n=4").status == 200);
  }
}

TEST_CASE("a build step reaches the allow-list only when its project asks and the operator allows",
          "[security]") {
  witness other;
  auto project = [&](tenant_cluster& c) {
    auto p = c.attack("egress");
    write_file(p + "/ferry.json", R"({"buildNetwork": true, "builder": "static-build"})");
    write_file(p + "/package.json", R"({"scripts": {"build": "node probe.js )" +
                                        port_of(c.node->url) + " " + port_of(c.node->router_url) +
                                        " " + std::to_string(other.port) +
                                        R"( && mkdir -p dist && echo ok > dist/index.html"}})");
    return p;
  };
  {
    tenant_cluster c("build_network = yes");
    auto mallory = c.add_user("mallory");
    c.deploy_ok(project(c), "probe", mallory);
    auto log = c.build_log("probe", mallory);
    INFO(log);
    CHECK(log.find("may reach the egress allow-list") != std::string::npos);
    CHECK(log.find("CONNECTED") == std::string::npos);
    for (auto port :
         {port_of(c.node->url), port_of(c.node->router_url), std::to_string(other.port)}) {
      CHECK(log.find("direct " + port + ": ECONNREFUSED") != std::string::npos);
      CHECK(log.find("proxy 127.0.0.1:" + port + ": HTTP/1.1 403 Forbidden") != std::string::npos);
      CHECK(log.find("proxy localhost:" + port + ": HTTP/1.1 403 Forbidden") != std::string::npos);
    }
    CHECK(log.find("proxy registry: HTTP/1.1 200 Connection established") != std::string::npos);
  }
  { // the operator's default: the build list (Google Fonts) only, whatever
    // the project asks
    tenant_cluster c;
    auto mallory = c.add_user("mallory");
    c.deploy_ok(project(c), "probe", mallory);
    auto log = c.build_log("probe", mallory);
    INFO(log);
    CHECK(log.find("this cluster does not allow it") != std::string::npos);
    CHECK(log.find("CONNECTED") == std::string::npos);
    CHECK(log.find("proxy registry: HTTP/1.1 403 Forbidden") != std::string::npos);
  }
  CHECK(other.connections == 0);
}

TEST_CASE("the egress proxy passes one request of a known length, and TLS that names its host",
          "[security]") {
  // an allowed plain http host on loopback that records what reaches it
  int port = 0;
  int fd = listen_loopback(port);
  std::string received;
  std::atomic<bool> stop{false};
  std::thread host([&] {
    while (!stop) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1)
        continue;
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0)
        continue;
      // a request, and whatever else comes within 300 ms; then an answer
      // (the proxy keeps its side open until then: servers drop a request
      // whose client half-closes)
      std::string got;
      char buf[4096];
      bool closed = false;
      auto whole = [&] {
        auto end = got.find("\r\n\r\n");
        if (end == std::string::npos)
          return false;
        auto cl = got.find("Content-Length: ");
        size_t len = cl < end ? std::stoul(got.substr(cl + 16)) : 0;
        return got.size() >= end + 4 + len;
      };
      for (pollfd q{c, POLLIN, 0}; ::poll(&q, 1, whole() ? 300 : 3000) == 1;) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) {
          closed = n == 0;
          break;
        }
        got.append(buf, static_cast<size_t>(n));
      }
      received += got + (closed ? "[half-closed]" : "") + "|";
      std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      ::send(c, ok.data(), ok.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  });
  {
    tenant_cluster c("build_network = yes\negress_allow = registry.npmjs.org, 127.0.0.1:" +
                     std::to_string(port) + "\negress_private_ranges = 127.0.0.1/32\n");
    auto mallory = c.add_user("mallory");
    auto p = c.attack("egress");
    write_file(p + "/ferry.json", R"({"buildNetwork": true, "builder": "static-build"})");
    write_file(p + "/package.json", R"({"scripts": {"build": "node smuggle.js )" +
                                        std::to_string(port) +
                                        R"( && mkdir -p dist && echo ok > dist/index.html"}})");
    c.deploy_ok(p, "smuggle", mallory);
    auto log = c.build_log("smuggle", mallory);
    INFO(log << "\nreceived: " << received);
    CHECK(log.find("smuggle: HTTP/1.1 200 OK") != std::string::npos);
    CHECK(received.find("POST /first HTTP/1.1") != std::string::npos);
    CHECK(received.find("abc") != std::string::npos);
    CHECK(received.find("second") == std::string::npos); // nothing after its body
    CHECK(received.find("other.example") == std::string::npos);
    CHECK(received.find("[half-closed]") == std::string::npos);
    CHECK(log.find("chunked: HTTP/1.1 400") != std::string::npos);
    // a client that waits for 100 Continue gets it from the proxy; the host
    // gets the body, and no Expect
    CHECK(log.find("continue: HTTP/1.1 100 Continue") != std::string::npos);
    CHECK(received.find("POST /fourth HTTP/1.1") != std::string::npos);
    CHECK(received.find("Expect") == std::string::npos);
    CHECK(received.find("third") == std::string::npos);
    CHECK(log.find("a tunnel to registry.npmjs.org asking for no name (SNI)") != std::string::npos);
  }
  stop = true;
  host.join();
  ::close(fd);
}

namespace {

/// A fonts service on loopback that follows the Google Fonts CSS2 API's
/// published contract (GET /css2?family=NAME: a stylesheet whose
/// @font-face rules name their files by absolute URL; a family it does not
/// know: 400), standing in for fonts.googleapis.com and fonts.gstatic.com,
/// which cannot be reached from here.
struct fonts_service {
  int port = 0;
  int fd = listen_loopback(port);
  std::atomic<int> requests{0};
  std::atomic<bool> stop{false};
  std::string woff2 = std::string("wOF2") + std::string(60, '\x01');
  std::thread t{[this] {
    while (!stop) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1)
        continue;
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0)
        continue;
      std::string head;
      char buf[4096];
      for (pollfd q{c, POLLIN, 0};
           head.find("\r\n\r\n") == std::string::npos && ::poll(&q, 1, 3000) == 1;) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0)
          break;
        head.append(buf, static_cast<size_t>(n));
      }
      ++requests;
      auto target = head.substr(0, head.find("\r\n"));
      std::string type = "text/plain", body = "Bad Request", status = "400 Bad Request";
      if (target.find("GET /css2?family=Inter") == 0) {
        status = "200 OK";
        type = "text/css; charset=utf-8";
        body =
            "/* latin */\n@font-face {\n  font-family: 'Inter';\n  font-style: normal;\n"
            "  font-weight: 400;\n  font-display: swap;\n  src: url(http://127.0.0.1:" +
            std::to_string(port) +
            "/s/inter/v20/UcC73FwrK3iLTeHuS_nVMrMx.woff2) format('woff2');\n"
            "  unicode-range: U+0000-00FF;\n}\n";
      } else if (target.find("GET /s/inter/v20/UcC73FwrK3iLTeHuS_nVMrMx.woff2 ") == 0) {
        status = "200 OK";
        type = "font/woff2";
        body = woff2;
      }
      auto answer = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                    "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n\r\n" + body;
      ::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }};
  ~fonts_service() {
    stop = true;
    t.join();
    ::close(fd);
  }
};

} // namespace

TEST_CASE("every build reaches the hosts of build_egress_allow without asking and nothing else",
          "[security]") {
  fonts_service fonts;
  witness other;
  auto project = [&](tenant_cluster& c) {
    // no ferry.json: what a framework fetches while it builds, and a probe of
    // every other way out
    auto p = c.attack("egress");
    write_file(p + "/package.json", R"({"scripts": {"build": "node probe.js )" +
                                        port_of(c.node->url) + " " + std::to_string(other.port) +
                                        " && node fonts.js " + std::to_string(fonts.port) +
                                        R"("}})");
    return p;
  };
  SECTION("the operator's list: the fonts, and not the registry nor another port") {
    tenant_cluster c("build_egress_allow = 127.0.0.1:" + std::to_string(fonts.port) +
                     "\negress_private_ranges = 127.0.0.1/32\n");
    auto mallory = c.add_user("mallory");
    auto url = c.deploy_ok(project(c), "fonts", mallory);
    auto log = c.build_log("fonts", mallory);
    INFO(log);
    CHECK(log.find("fonts: fetched") != std::string::npos);
    CHECK(fonts.requests == 2); // the stylesheet, then its font
    auto css = fetch(url + "/fonts.css");
    CHECK(css.status == 200);
    CHECK(css.body.find("font-family: 'Inter'") != std::string::npos);
    CHECK(css.body.find("url(/UcC73FwrK3iLTeHuS_nVMrMx.woff2)") != std::string::npos);
    auto font = fetch(url + "/UcC73FwrK3iLTeHuS_nVMrMx.woff2");
    CHECK(font.status == 200);
    CHECK(font.body == fonts.woff2);
    // the fonts' port directly (the step's own namespace), the API and the
    // other port through the proxy, the registry: none of them
    CHECK(log.find("CONNECTED") == std::string::npos);
    for (auto port : {port_of(c.node->url), std::to_string(other.port)}) {
      CHECK(log.find("direct " + port + ": ECONNREFUSED") != std::string::npos);
      CHECK(log.find("proxy 127.0.0.1:" + port + ": HTTP/1.1 403 Forbidden") != std::string::npos);
    }
    CHECK(log.find("proxy registry: HTTP/1.1 403 Forbidden") != std::string::npos);
  }
  SECTION("build_egress_allow = none: no network in the build at all") {
    tenant_cluster c("build_egress_allow = none\negress_private_ranges = 127.0.0.1/32\n");
    auto mallory = c.add_user("mallory");
    auto r = c.deploy(project(c), "fonts", mallory);
    auto log = c.build_log("fonts", mallory);
    INFO(r.out << r.err << log);
    CHECK(r.exit_code != 0);
    CHECK(log.find("fonts: http://127.0.0.1:" + std::to_string(fonts.port) +
                   "/css2?family=Inter&display=swap: ECONNREFUSED") != std::string::npos);
    CHECK(log.find("proxy registry: ECONNREFUSED") != std::string::npos);
    CHECK(fonts.requests == 0);
  }
  CHECK(other.connections == 0);
}
