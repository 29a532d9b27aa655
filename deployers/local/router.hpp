#pragma once
// The router (Boost.Beast, HTTP/1.1 keep-alive; asio coroutines on a few
// threads, each with its own io_context and its share of the connections):
// maps Host to a deployment through the runtime's alias table or the
// deployment's own host name ID-PROJECT.DOMAIN, serves static files itself
// (ETag, If-None-Match, Cache-Control) and proxies function routes to an
// instance over its unix socket, one kept-open upstream connection per
// client connection. A function that runs past its maxDuration gets a 504
// and its instance is stopped; one that dies mid-request gets a 500; both
// are logged to the deployment's runtime log with every request.
#include "deployers/local/runtime.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <string>

namespace ferry::runtime {

struct router_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  size_t max_connections = 4096;
  size_t max_per_client = 1024;   ///< connections of one client address
  int idle_timeout_s = 60;        ///< a connection waiting for its next request
  int header_timeout_s = 10;      ///< a request's head, once it began
  size_t max_body = 16 << 20;     ///< request body
  size_t max_response = 32 << 20; ///< a function's response body
  unsigned threads = 0;           ///< 0: half the cores (1 to 8)
};

class router {
public:
  router(core& c, router_options opts);
  ~router();
  caf::expected<uint16_t> start();
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ferry::runtime
