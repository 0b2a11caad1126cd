#include "vmm/sandbox.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "common/error.h"
#include "common/io.h"
#include "common/isolation.h"
#include "common/unique_fd.h"

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

// vCPU threads run KVM_RUN and the device register handlers (which signal eventfds). A
// virtio-net driver's status write sets its tap's offloads to what the driver accepted.
const std::vector<std::string> kVcpuSyscalls = {"read", "ioctl"};
const std::vector<unsigned long> kVcpuIoctls = {KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS,
                                                TUNSETOFFLOAD};

// The event thread serves queues and host fds: disk I/O, console sockets, tap.
const std::vector<std::string> kEventSyscalls = {
    "epoll_wait", "epoll_pwait", "read",    "readv",    "pread64", "preadv",
    "preadv2",    "pwrite64",    "pwritev", "pwritev2", "fsync",   "fdatasync",
    "recvfrom",   "recvmsg",     "sendto",  "sendmsg",  "close",
};

// rkt's deny-list for apps (Docker's default deny-list of its time): process_deny_filter()
// refuses all of it, and kDeniedSyscalls on top.
constexpr const char* kRktDenyList = "@rkt/default-blacklist";

// What no VMM process needs besides, refused with EPERM (process_deny_filter()).
const std::vector<std::string> kDeniedSyscalls = {
    // other processes
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    // mounts and namespaces
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "setns",
    "unshare",
    // the kernel itself
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "uselib",
    "syslog",
    "fanotify_init",
    "iopl",
    "ioperm",
    // files by handle: a way around the paths the jail leaves
    "open_by_handle_at",
    "name_to_handle_at",
    // the host's clock and names
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "sethostname",
    "setdomainname",
    "vhangup",
    // io_uring runs its operations where no seccomp filter sees them
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
};
// Arguments in memory, which a filter cannot read: ENOSYS, so libc uses the checked calls.
const std::vector<std::string> kHiddenArgumentSyscalls = {"clone3", "openat2"};
// fchmodat2 (452) and everything after it, which libseccomp 2.5 may not know by name.
constexpr int kFirstUncheckedSyscall = 452;
constexpr int kLastUncheckedSyscall = 511;

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

void add_rule(scmp_filter_ctx ctx, uint32_t action, const char* name,
              std::initializer_list<scmp_arg_cmp> args = {}) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return;  // unknown to libseccomp
    int r = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()),
                                   args.size() ? args.begin() : nullptr);
    if (r == -EDOM) return;  // not on this architecture (vm86, ...)
    if (r != 0) throw Error(std::string("seccomp: cannot add a rule for ") + name);
}

// A mode argument (mode_t, 32 bits: a caller may put anything in the upper half) with the
// setuid or the setgid bit.
void deny_setid_mode(scmp_filter_ctx ctx, const char* name, unsigned arg) {
    for (uint64_t bit : {uint64_t{S_ISUID}, uint64_t{S_ISGID}})
        add_rule(ctx, SCMP_ACT_ERRNO(EPERM), name, {{arg, SCMP_CMP_MASKED_EQ, bit, bit}});
}

void deny_device_nodes(scmp_filter_ctx ctx, const char* name, unsigned arg) {
    for (uint64_t type : {uint64_t{S_IFCHR}, uint64_t{S_IFBLK}})
        add_rule(ctx, SCMP_ACT_ERRNO(EPERM), name, {{arg, SCMP_CMP_MASKED_EQ, S_IFMT, type}});
}

}  // namespace

std::vector<std::string> denied_syscalls() {
    std::vector<std::string> all = isolation::syscall_group(kRktDenyList, {});
    all.insert(all.end(), kDeniedSyscalls.begin(), kDeniedSyscalls.end());
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    return all;
}

std::vector<sock_filter> process_deny_filter() {
    std::unique_ptr<void, FilterDeleter> owner(seccomp_init(SCMP_ACT_ALLOW));
    scmp_filter_ctx ctx = owner.get();
    if (!ctx) throw Error("seccomp_init failed");
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0)
        throw Error("seccomp: cannot set the action for other architectures");
    for (const auto& name : denied_syscalls()) add_rule(ctx, SCMP_ACT_ERRNO(EPERM), name.c_str());
    for (const auto& name : kHiddenArgumentSyscalls)
        add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), name.c_str());
    for (int nr = kFirstUncheckedSyscall; nr <= kLastUncheckedSyscall; ++nr) {
        if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) != 0)
            throw Error("seccomp: cannot refuse system call " + std::to_string(nr));
    }
    // Threads, yes; new namespaces, no.
    for (uint64_t flag : {uint64_t{CLONE_NEWUSER}, uint64_t{CLONE_NEWNS}, uint64_t{CLONE_NEWPID},
                          uint64_t{CLONE_NEWNET}, uint64_t{CLONE_NEWIPC}, uint64_t{CLONE_NEWUTS},
                          uint64_t{CLONE_NEWCGROUP}})
        add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
    deny_setid_mode(ctx, "chmod", 1);
    deny_setid_mode(ctx, "fchmod", 1);
    deny_setid_mode(ctx, "fchmodat", 2);
    deny_setid_mode(ctx, "creat", 1);
    deny_setid_mode(ctx, "open", 2);
    deny_setid_mode(ctx, "openat", 3);
    deny_setid_mode(ctx, "mknod", 1);
    deny_setid_mode(ctx, "mknodat", 2);
    deny_device_nodes(ctx, "mknod", 1);
    deny_device_nodes(ctx, "mknodat", 2);
    // ioctl's request and prctl's option are ints: compare only their 32 bits.
    for (uint64_t request : {uint64_t{TIOCSTI}, uint64_t{TIOCLINUX}})
        add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl",
                 {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, request)});
    add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "prctl",
             {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, PR_SET_PDEATHSIG)});

    UniqueFd out(::memfd_create("rkt-vmm-filter", MFD_CLOEXEC));
    if (!out) throw system_error("memfd_create");
    int r = seccomp_export_bpf(ctx, out.get());
    if (r != 0) throw Error("seccomp_export_bpf: " + std::string(std::strerror(-r)));
    off_t size = ::lseek(out.get(), 0, SEEK_END);
    if (size <= 0 || size % sizeof(sock_filter) != 0) throw Error("seccomp: bad filter size");
    std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
    if (::pread(out.get(), program.data(), static_cast<size_t>(size), 0) != size)
        throw system_error("cannot read the seccomp filter back");
    return program;
}

int load_process_filter(const std::vector<sock_filter>& program) noexcept {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.size());
    prog.filter = const_cast<sock_filter*>(program.data());
    if (program.empty() || program.size() > BPF_MAXINSNS) return EINVAL;
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return errno;
    return 0;
}

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
