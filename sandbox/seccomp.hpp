#pragma once
// The seccomp filter of every sandbox, as a compiled BPF program for
// bwrap's --seccomp FD. Everything is allowed but the calls that reach
// beyond a tenant's own processes and files; those fail with EPERM
// (clone3 and io_uring with ENOSYS, so that libc and libuv fall back to
// calls the filter can inspect). The list and the reason for each entry are
// in seccomp.cpp and in DESIGN.md ("Tenant isolation").
#include <string>
#include <vector>

namespace ferry::sandbox {

/// The refused system calls by name (for documentation and tests).
const std::vector<std::string>& refused_syscalls();

/// The filter as BPF bytes (built once, then shared); empty with error set if
/// libseccomp could not build it.
const std::string& seccomp_program(std::string* error = nullptr);

} // namespace ferry::sandbox
