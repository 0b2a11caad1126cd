// Seccomp programs built into rkt: libseccomp takes some 10 ms to compile the default
// allow-list for three ABIs, on the start path of every pod. The build compiles the default
// policies once (seccomp_bake.cpp) and compile_seccomp() returns those bytes when an app's
// policy is one of them; any other policy is compiled as before.
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/isolation.h"

namespace rkt::isolation {

struct BuiltinSeccompProgram {
    uint32_t arch;  // seccomp_arch_native() of the build
    SeccompMode mode;
    bool all;
    int errno_code;
    std::span<const char* const> syscalls;           // sorted, as std::set orders them
    std::span<const char* const> argument_filtered;  // sorted
    std::span<const sock_filter> program;
};

// The built-in programs (generated at build time).
std::span<const BuiltinSeccompProgram> builtin_seccomp_programs();

// The policies the build compiles in: the default allow-list for the default capabilities and
// for all of them (--insecure-options=capabilities).
std::vector<SeccompPolicy> builtin_seccomp_policies();

// libseccomp's program for the policy, never a built-in one (the build's generator, tests).
std::vector<sock_filter> compile_seccomp_with_libseccomp(const SeccompPolicy& policy);

}  // namespace rkt::isolation
