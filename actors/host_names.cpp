#include "actors/host_names.hpp"

namespace ferry {

namespace {

bool ends_with_label(const std::string& host, const std::string& suffix) {
  return host.size() > suffix.size() + 1 &&
         host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         host[host.size() - suffix.size() - 1] == '.';
}

/// Why nobody may have host as an alias or a domain, or "".
std::string nobodys(const std::string& host, const std::string& domain) {
  if (auto why = check_host_name(host); !why.empty())
    return why;
  if (host == domain)
    return host + " is the cluster's own domain";
  if (is_ip_address(host))
    return host + " is an IP address, not a host name";
  if (host == "localhost" || ends_with_label(host, "localhost")) {
    if (!ends_with_label(host, domain))
      return host + " is a name of the local machine";
  }
  return {};
}

} // namespace

std::string check_host_name(const std::string& host) {
  if (host.empty() || host.size() > 253)
    return "a host name has 1 to 253 characters";
  size_t label = 0;
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    if (c == '.') {
      if (label == 0 || host[i - 1] == '-')
        return "'" + host + "' is not a host name (empty label or label ending in '-')";
      label = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return "a host name may hold only a-z, 0-9, '-' and '.', not '" + host.substr(0, 253) + "'";
    if (c == '-' && label == 0)
      return "'" + host + "' is not a host name (label starting with '-')";
    if (++label > 63)
      return "a label of a host name has at most 63 characters";
  }
  if (label == 0 || host.back() == '-')
    return "'" + host + "' is not a host name";
  return {};
}

bool looks_like_deployment_label(const std::string& label) {
  return label.size() > 14 && label[13] == '-' &&
         label.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567") == 13;
}

std::string check_project_name(const std::string& name) {
  if (name.empty() || name.size() > 63)
    return "name must be 1 to 63 characters";
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return "name '" + name.substr(0, 63) + "' may hold only a-z, 0-9 and '-'";
  if (name.front() == '-' || name.back() == '-')
    return "name '" + name + "' may not start or end with '-'";
  if (looks_like_deployment_label(name))
    return "name '" + name + "' has the shape of a deployment's host (13 letters, '-', a name)";
  return {};
}

bool is_ip_address(const std::string& host) {
  if (host.find(':') != std::string::npos)
    return true;
  size_t start = 0;
  int labels = 0;
  while (start <= host.size()) {
    auto dot = host.find('.', start);
    auto label = host.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.find_first_not_of("0123456789") != std::string::npos)
      return false;
    ++labels;
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  return labels >= 1 && labels <= 4;
}

std::string check_alias_host(const std::string& host, const std::string& project,
                             const std::string& domain, const domain_owner& owner_of) {
  if (auto why = nobodys(host, domain); !why.empty())
    return why;
  auto production = project + "." + domain;
  if (host == production)
    return host + " is the production host of " + project + ": use promote or rollback";
  if (ends_with_label(host, domain)) {
    if (ends_with_label(host, production))
      return {};
    auto label = host.substr(0, host.size() - domain.size() - 1);
    if (label.find('.') == std::string::npos && looks_like_deployment_label(label))
      return host + " has the shape of a deployment's host";
    return "under " + domain + " a project's aliases are NAME." + production + " (" + host +
           " is not below " + production + ")";
  }
  // the nearest assigned domain at or above host decides
  for (std::string name = host;;) {
    if (auto owner = owner_of(name)) {
      if (*owner == project)
        return {};
      return host + " is on a domain assigned to another project";
    }
    auto dot = name.find('.');
    if (dot == std::string::npos)
      break;
    name = name.substr(dot + 1);
  }
  return host + " is on no domain assigned to " + project +
         " (an admin assigns one: ferry domain add NAME --project " + project + ")";
}

std::string check_assignable_domain(const std::string& name, const std::string& domain) {
  if (auto why = nobodys(name, domain); !why.empty())
    return why;
  if (ends_with_label(name, domain))
    return "names under " + domain + " belong to their projects already";
  if (name.find('.') == std::string::npos)
    return name + " is a top-level domain, not a domain of a project";
  return {};
}

} // namespace ferry
