#include "vmm/sandbox.h"

#include <linux/kvm.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include <memory>

#include "common/error.h"

namespace rkt::vmm {
namespace {

// Shared by every VMM thread: memory allocation, locks, signals, thread exit, logging.
const std::vector<std::string> kCommonSyscalls = {
    "brk",
    "mmap",
    "mprotect",
    "munmap",
    "mremap",
    "madvise",
    "futex",
    "rt_sigreturn",
    "rt_sigprocmask",
    "sched_yield",
    "restart_syscall",
    "exit",
    "exit_group",
    "getpid",
    "gettid",
    "tgkill",
    "write",
    "writev",
    "clock_gettime",
    "clock_nanosleep",
    "nanosleep",
    "epoll_ctl",
    // Sanitizer runtimes tear down a thread's alternate signal stack when it exits.
    "sigaltstack",
};
// mmap and mprotect (malloc grows a thread's arena with it) never with PROT_EXEC: no VMM thread
// maps code after start-up.
const std::vector<std::string> kNoExecSyscalls = {"mmap", "mprotect"};

// vCPU threads run KVM_RUN and the device register handlers (which signal eventfds).
const std::vector<std::string> kVcpuSyscalls = {"read", "ioctl"};
const std::vector<unsigned long> kVcpuIoctls = {KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS};

// The event thread serves queues and host fds: disk I/O, console sockets, tap.
const std::vector<std::string> kEventSyscalls = {
    "epoll_wait", "epoll_pwait", "read",    "readv",    "pread64", "preadv",
    "preadv2",    "pwrite64",    "pwritev", "pwritev2", "fsync",   "fdatasync",
    "recvfrom",   "recvmsg",     "sendto",  "sendmsg",  "close",
};

struct FilterDeleter {
    void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};

void drop_capabilities() {
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
    for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
        if (::prctl(PR_CAPBSET_READ, cap) == 1 && ::prctl(PR_CAPBSET_DROP, cap) != 0 &&
            errno != EPERM)
            throw system_error("cannot drop capability " + std::to_string(cap));
    }
    std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)> none(cap_init(), cap_free);
    if (!none || cap_set_proc(none.get()) != 0) throw system_error("cannot drop capabilities");
}

void install_filter(ThreadRole role, SeccompMode mode) {
    uint32_t deny = mode == SeccompMode::kLog ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
    std::unique_ptr<void, FilterDeleter> ctx(seccomp_init(deny));
    if (!ctx) throw Error("seccomp_init failed");
    for (const auto& name : allowed_syscalls(role)) {
        if (name == "ioctl" || name == "mmap" || name == "mprotect") continue;
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
        if (seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 0) != 0)
            throw Error("seccomp: cannot allow " + name);
    }
    for (const auto& name : kNoExecSyscalls) {
        if (seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, seccomp_syscall_resolve_name(name.c_str()),
                             1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) != 0)
            throw Error("seccomp: cannot allow " + name);
    }
    if (role == ThreadRole::kVcpu) {
        for (unsigned long request : kVcpuIoctls) {
            if (seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                 SCMP_A1(SCMP_CMP_EQ, request)) != 0)
                throw Error("seccomp: cannot allow ioctl");
        }
    }
    int r = seccomp_load(ctx.get());
    if (r != 0) throw Error("seccomp_load: " + std::string(std::strerror(-r)));
}

}  // namespace

std::vector<std::string> allowed_syscalls(ThreadRole role) {
    std::vector<std::string> all = kCommonSyscalls;
    const auto& extra = role == ThreadRole::kVcpu ? kVcpuSyscalls : kEventSyscalls;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
}

SeccompMode effective_seccomp_mode(SeccompMode requested) {
#ifdef __SANITIZE_ADDRESS__
    if (requested == SeccompMode::kEnforce) return SeccompMode::kLog;
#endif
    return requested;
}

void sandbox_current_thread(ThreadRole role, const SandboxOptions& options) {
    if (options.drop_capabilities) drop_capabilities();
    if (options.seccomp == SeccompMode::kOff) return;
    // Without CAP_SYS_ADMIN a filter needs no_new_privs; it is right for the VMM anyway.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw system_error("PR_SET_NO_NEW_PRIVS");
    install_filter(role, options.seccomp);
}

}  // namespace rkt::vmm
