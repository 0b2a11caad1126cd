// What a VMM thread gives up before it runs guest code: all capabilities (effective, permitted,
// inheritable and the bounding set, of this thread), new privileges, and every system call its
// role does not need (a libseccomp filter per thread; ioctl only with the KVM requests used).
// Other threads of the process — the stage1's own — are not touched.
#pragma once

#include <string>
#include <vector>

#include "vmm/machine.h"

namespace rkt::vmm {

enum class SeccompMode {
    kEnforce,  // a forbidden system call kills the process
    kLog,      // a forbidden system call is allowed and logged by the kernel (audit)
    kOff,      // no filter (debugging)
};

struct SandboxOptions {
    SeccompMode seccomp = SeccompMode::kEnforce;
    bool drop_capabilities = true;
};

// The mode VMM threads actually get: under AddressSanitizer, kEnforce becomes kLog, because the
// sanitizer runtime makes system calls of its own (pipe2 to probe memory, sigaltstack at thread
// exit) that no allow-list can predict.
SeccompMode effective_seccomp_mode(SeccompMode requested);

// Applies the sandbox to the calling thread for `role`. Throws an Error on failure.
void sandbox_current_thread(ThreadRole role, const SandboxOptions& options);

// The system calls allowed for a role, by name (for tests and docs/vmm.md).
std::vector<std::string> allowed_syscalls(ThreadRole role);

}  // namespace rkt::vmm
