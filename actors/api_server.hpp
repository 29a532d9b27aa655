#pragma once
// The HTTP API of the api role (Boost.Beast, HTTP/1.1 keep-alive). One thread
// per connection, each with its own blocking CAF handle, so a slow client
// never stalls the actor scheduler. Requests reach the role actors only
// through the node directory, so every role may live on another node.
//
// A request's head is read first (16 KiB at most, within header_timeout_s),
// its framing checked (actors/http_framing.hpp), its route matched and its
// token authenticated: only then is its body read, up to its route's limit
// and within a budget of body bytes in flight, so an unauthenticated client
// costs ferryd no memory.
#include "messages/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <string>

namespace ferry {

struct api_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  size_t max_connections = 256;
  size_t max_per_client = 128; ///< connections of one client address
  int idle_timeout_s = 60;     ///< a connection waiting for its next request
  int header_timeout_s = 10;   ///< a request's head, once it began
};

class api_server {
public:
  api_server(caf::actor_system& sys, directory_actor directory, api_options opts);
  ~api_server();
  /// Binds and starts accepting; returns the bound port.
  caf::expected<uint16_t> start();
  /// Stops accepting, closes every connection and waits for their threads.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ferry
