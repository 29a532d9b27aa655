// Route patterns come from a build's output and paths from clients: both
// are untrusted, and matching runs on the router's shared threads.
#include "deployers/local/runtime.hpp"

#include <catch2/catch.hpp>

#include <re2/re2.h>

#include <chrono>

using namespace ferry::runtime;

namespace {

deployment with_route(const std::string& src, const std::string& function) {
  deployment d;
  d.functions[function] = function_config{function, "", "index.js"};
  d.routes.push_back(route{std::make_shared<const re2::RE2>("(?:" + src + ")"), function});
  return d;
}

} // namespace

TEST_CASE("a route pattern matches whole paths") {
  auto d = with_route("/api/hello", "api/hello");
  CHECK(d.find_function("/api/hello") != nullptr);
  CHECK(d.find_function("/api/hello/x") == nullptr);
  CHECK(d.find_function("/x/api/hello") == nullptr);
  auto app = with_route("/(.*)", "index");
  CHECK(app.find_function("/") != nullptr);
  CHECK(app.find_function("/any/depth") != nullptr);
}

TEST_CASE("a pattern that backtracks exponentially still matches in linear time") {
  // (a+)+$ against "aaa...ab": a backtracking engine (std::regex) takes
  // 2^n steps here and would not finish; RE2 answers at once
  auto d = with_route("/(a+)+", "evil");
  std::string path = "/" + std::string(40, 'a') + "b";
  auto t0 = std::chrono::steady_clock::now();
  CHECK(d.find_function(path) == nullptr);
  CHECK(d.find_function("/" + std::string(40, 'a')) != nullptr);
  // and a long path does not recurse per character (no stack overflow)
  auto app = with_route("/(.*)", "index");
  CHECK(app.find_function("/" + std::string(1 << 20, 'x')) != nullptr);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
}
