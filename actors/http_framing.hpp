#pragma once
// The framing of a request a server reads (the API and the router): what
// Beast accepts but a proxy or a function behind it might read otherwise is
// refused, so that no request can hide inside another (smuggling).
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/fields.hpp>

#include <string>

namespace ferry {

/// "" if the head frames its message unambiguously, else why not:
///   - Transfer-Encoding, if present, is one field and exactly "chunked" (a
///     chunked body that is not the last coding has no length Beast reads:
///     its bytes would be taken for the next request);
///   - not both Transfer-Encoding and Content-Length;
///   - exactly one Host (HTTP/1.1 requires it; two may be read differently
///     by the router and by a function).
inline std::string check_framing(const boost::beast::http::fields& h, unsigned version) {
  namespace http = boost::beast::http;
  size_t te = 0, hosts = 0, lengths = 0;
  boost::beast::string_view coding;
  for (auto& f : h) {
    if (f.name() == http::field::transfer_encoding) {
      ++te;
      coding = f.value();
    } else if (f.name() == http::field::host) {
      ++hosts;
    } else if (f.name() == http::field::content_length) {
      ++lengths;
    }
  }
  if (te > 1)
    return "more than one Transfer-Encoding";
  if (te == 1) {
    while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t'))
      coding.remove_prefix(1);
    while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t'))
      coding.remove_suffix(1);
    if (!boost::beast::iequals(coding, "chunked"))
      return "a Transfer-Encoding other than chunked";
    if (lengths > 0)
      return "both Transfer-Encoding and Content-Length";
  }
  if (lengths > 1)
    return "more than one Content-Length";
  if (hosts > 1)
    return "more than one Host";
  if (hosts == 0 && version >= 11)
    return "no Host";
  return {};
}

} // namespace ferry
