// What a VMM gives up before it runs guest code. Each VMM thread: all capabilities (effective,
// permitted, inheritable and the bounding set, of this thread), new privileges, and every system
// call its role does not need (a libseccomp filter per thread; ioctl only with the KVM requests
// used and virtio-net's TUNSETOFFLOAD). The whole VMM process (QEMU before its exec, the
// built-in VMM's process before its threads start): rkt's deny filter, below, on top of its
// jail (vmm/jail.h).
#pragma once

#include <linux/filter.h>

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

// rkt's filter for a whole VMM process, a deny-list (QEMU's own -sandbox and the built-in VMM's
// per-thread allow-lists come on top of it). It fails with EPERM all of @rkt/default-blacklist
// (common/isolation.h) and what else a VMM never needs and a compromised one would use against
// the host: other processes (ptrace, process_vm_*, pidfd_getfd), mounts and namespaces (also
// clone with a CLONE_NEW* flag), modules, kexec, bpf, perf, keys, io_uring (whose operations no
// filter sees), the clock, the terminal (TIOCSTI, TIOCLINUX), a way out of its parent-death signal;
// and, for the host files it serves over virtio-9p, any setuid or setgid mode bit (chmod, fchmod,
// fchmodat, open, openat, creat) and character or block device nodes (mknod, mknodat). Calls whose
// arguments it cannot see fail with ENOSYS (clone3, openat2, fchmodat2 and every number above it),
// so libc falls back to the ones it checks; other architectures' system calls kill the process.
// Built before fork; loaded in the child with load_process_filter().
std::vector<sock_filter> process_deny_filter();

// Loads a program from process_deny_filter() into the calling thread, without allocating
// (safe between fork and exec). 0, or the errno of the failure. Needs no_new_privs (or
// CAP_SYS_ADMIN).
int load_process_filter(const std::vector<sock_filter>& program) noexcept;

// The names process_deny_filter() refuses outright (for tests and docs).
std::vector<std::string> denied_syscalls();

}  // namespace rkt::vmm
