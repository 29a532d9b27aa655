#pragma once
// Plain HTTP for tests (libcurl), and raw bytes for malformed requests.
#include <string>
#include <vector>

namespace ferry::test {

struct reply {
  long status = 0;
  std::string body;
  std::string error; ///< transport error, if any
};

reply http(const std::string& method, const std::string& url, const std::string& body = "",
           const std::string& token = "", const std::string& content_type = "application/json");

/// A TCP socket listening on 127.0.0.1 at a free port (set in port).
int listen_loopback(int& port);

/// A port that was free a moment ago (for configurations that need one).
int free_port();

/// A TCP connection to the host:port of url (127.0.0.1); -1 if refused.
int connect_to(const std::string& url);

/// True if the server closed the connection fd within timeout_ms.
bool closed_by_server(int fd, int timeout_ms);

/// Sends raw bytes to host:port, optionally half-closing, and returns what
/// comes back within timeout_ms.
std::string raw_exchange(const std::string& url, const std::string& bytes, bool close_write,
                         int timeout_ms = 3000);

} // namespace ferry::test
