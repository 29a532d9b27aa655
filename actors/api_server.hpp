#pragma once
// The HTTP API of the api role (Boost.Beast, HTTP/1.1 keep-alive). One thread
// per connection, each with its own blocking CAF handle, so a slow client
// never stalls the actor scheduler. Requests reach the role actors only
// through the node directory, so every role may live on another node.
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
  int idle_timeout_s = 60;
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
