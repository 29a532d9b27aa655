#include "cli/http_client.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

namespace ferry::cli {

namespace {
size_t on_data(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}
} // namespace

void http_global_init() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

std::string http_result::error_text() const {
  if (!transport_error.empty())
    return transport_error;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.contains("error") && j["error"].is_object()) {
    auto& e = j["error"];
    return e.value("code", "error") + ": " + e.value("message", "");
  }
  return "HTTP " + std::to_string(status);
}

http_client::http_client(std::string base_url, std::string token)
    : base_(std::move(base_url)), auth_("Authorization: Bearer " + token), curl_(curl_easy_init()) {
  while (!base_.empty() && base_.back() == '/')
    base_.pop_back();
}

http_client::~http_client() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

http_result http_client::request(const std::string& method, const std::string& path,
                                 std::string_view body, const std::string& content_type) {
  auto* h = static_cast<CURL*>(curl_);
  http_result out;
  curl_easy_reset(h);
  auto url = base_ + path;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 600000L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 2L << 20);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.body);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, auth_.c_str());
  headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  if (method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  auto rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    out.transport_error = std::string("cannot reach ") + base_ + ": " + curl_easy_strerror(rc);
    return out;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
  return out;
}

} // namespace ferry::cli
