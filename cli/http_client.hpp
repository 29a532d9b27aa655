#pragma once
// A small libcurl client for the ferry API: one keep-alive connection per
// instance (use one per thread), bearer token on every request.
#include <string>
#include <string_view>

namespace ferry::cli {

struct http_result {
  long status = 0;
  std::string body;
  std::string transport_error; ///< non-empty if no HTTP answer arrived

  bool ok() const { return transport_error.empty() && status >= 200 && status < 300; }
  /// "code: message" from an API error body, or the transport error.
  std::string error_text() const;
};

class http_client {
public:
  http_client(std::string base_url, std::string token);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  http_result request(const std::string& method, const std::string& path,
                      std::string_view body = {},
                      const std::string& content_type = "application/json");

private:
  std::string base_;
  std::string auth_;
  void* curl_;
};

/// Call once before any thread uses libcurl.
void http_global_init();

} // namespace ferry::cli
