#pragma once
// Who may serve at which host name. The router reads a Host header as:
//
//   ID-PROJECT.DOMAIN         a deployment (parsed first: never an alias)
//   PROJECT.DOMAIN            the project's production alias
//   NAME.PROJECT.DOMAIN       custom aliases of the project (any depth)
//   anything else             a custom alias on a domain an admin assigned
//                             to the project (`ferry domain add`), or below it
//
// so a host name belongs to one project by its shape or by an admin's
// word, never to whoever claims it first. The bare domain, localhost, IP
// addresses and the shape of a deployment host are nobody's alias.
#include <functional>
#include <optional>
#include <string>

namespace ferry {

/// Empty if host is a lower-case DNS name (1-253 characters, labels of
/// [a-z0-9-] not starting or ending with '-'), else why not.
std::string check_host_name(const std::string& host);

/// Empty if name is a valid project or user name (a DNS label: 1-63 of
/// [a-z0-9-], not starting or ending with '-', and not of the shape of a
/// deployment's label), else the reason.
std::string check_project_name(const std::string& name);

/// "abcdefghijklm-project": 13 characters of a deployment id (base32), '-',
/// a project name.
bool looks_like_deployment_label(const std::string& label);

/// A dotted IPv4 address (every label digits) or anything with ':'.
bool is_ip_address(const std::string& host);

/// The project an admin assigned a domain to, if any (the registry's lookup).
using domain_owner = std::function<std::optional<std::string>(const std::string& domain)>;

/// Empty if project may point the custom (not production) alias host at one
/// of its deployments, else why not. domain is the cluster's.
std::string check_alias_host(const std::string& host, const std::string& project,
                             const std::string& domain, const domain_owner& owner_of);

/// Empty if an admin may assign name to a project, else why not.
std::string check_assignable_domain(const std::string& name, const std::string& domain);

} // namespace ferry
