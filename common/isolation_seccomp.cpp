// Compiling a SeccompPolicy into a BPF program with libseccomp, before fork. The child loads the
// program with one prctl(2) and never calls into libseccomp (which allocates). The default
// policies come compiled with rkt (isolation_seccomp_builtin.h).
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/error.h"
#include "common/io.h"
#include "common/isolation.h"
#include "common/isolation_seccomp_builtin.h"
#include "common/unique_fd.h"

namespace rkt::isolation {
namespace {

struct ContextDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

// clone(2) flags that create namespaces (Docker's mask): refused without CAP_SYS_ADMIN.
constexpr uint64_t kNamespaceFlags = 0x7E020000;
// personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26 variants, and the query.
constexpr uint64_t kPersonalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

void check(int rc, const std::string& what) {
    if (rc < 0) throw system_error("seccomp: cannot " + what, -rc);
}

int syscall_number(const std::string& name) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) throw Error("unknown system call \"" + name + "\"");
    return nr;
}

// A rule for a name that does not exist on some of the filter's architectures is skipped there
// by libseccomp; one that exists on none of them is refused with EDOM, which is fine as well.
void add_rule(scmp_filter_ctx ctx, uint32_t action, const std::string& name, unsigned count,
              const scmp_arg_cmp* args) {
    int rc = seccomp_rule_add_array(ctx, action, syscall_number(name), count, args);
    if (rc == -EDOM) return;
    check(rc, "add a rule for " + name);
}

template <class Names>
bool same_names(const std::set<std::string>& names, const Names& sorted) {
    if (names.size() != sorted.size()) return false;
    auto it = sorted.begin();
    for (const auto& name : names)
        if (name != *it++) return false;
    return true;
}

bool matches(const BuiltinSeccompProgram& b, const SeccompPolicy& policy) {
    return b.mode == policy.mode && b.all == policy.all && b.errno_code == policy.errno_code &&
           same_names(policy.syscalls, b.syscalls) &&
           same_names(policy.argument_filtered, b.argument_filtered) &&
           b.arch == seccomp_arch_native();
}

}  // namespace

std::vector<SeccompPolicy> builtin_seccomp_policies() {
    return {default_seccomp(CapabilitySet::defaults()), default_seccomp(CapabilitySet::all())};
}

std::vector<sock_filter> compile_seccomp(const SeccompPolicy& policy) {
    for (const auto& builtin : builtin_seccomp_programs())
        if (matches(builtin, policy))
            return std::vector<sock_filter>(builtin.program.begin(), builtin.program.end());
    return compile_seccomp_with_libseccomp(policy);
}

std::vector<sock_filter> compile_seccomp_with_libseccomp(const SeccompPolicy& policy) {
    const uint32_t deny = policy.errno_code > 0
                              ? SCMP_ACT_ERRNO(static_cast<uint32_t>(policy.errno_code))
                              : SCMP_ACT_KILL_PROCESS;
    const bool retain = policy.mode == SeccompMode::kRetain;
    uint32_t default_action =
        retain ? (policy.all ? SCMP_ACT_ALLOW : deny) : (policy.all ? deny : SCMP_ACT_ALLOW);
    Context ctx(seccomp_init(default_action));
    if (!ctx) throw Error("seccomp: cannot create a filter");
    check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
          "set the bad-architecture action");
    // The filter does not set no_new_privs itself: the child does that, in its own order.
    check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "leave no_new_privs alone");
    // A binary tree of syscall numbers rather than a list: the kernel loads the default filter
    // four times faster (0.2 ms instead of 0.8 here, on every app's start) and a system call
    // passes a few comparisons instead of up to hundreds.
    check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), "sort the filter as a tree");
    if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
        // 32-bit programs run in images too; their calls go through the same list.
        check(seccomp_arch_add(ctx.get(), SCMP_ARCH_X86), "add the x86 architecture");
        check(seccomp_arch_add(ctx.get(), SCMP_ARCH_X32), "add the x32 architecture");
    }

    if (retain && !policy.all) {
        for (const auto& name : policy.syscalls) {
            if (!policy.argument_filtered.count(name)) {
                add_rule(ctx.get(), SCMP_ACT_ALLOW, name, 0, nullptr);
            } else if (name == "clone") {
                scmp_arg_cmp no_namespaces = SCMP_A0(SCMP_CMP_MASKED_EQ, kNamespaceFlags, 0);
                add_rule(ctx.get(), SCMP_ACT_ALLOW, name, 1, &no_namespaces);
            } else if (name == "personality") {
                for (uint64_t persona : kPersonalities) {
                    scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_EQ, persona);
                    add_rule(ctx.get(), SCMP_ACT_ALLOW, name, 1, &cmp);
                }
            } else {
                throw Error("internal: no argument filter for " + name);
            }
        }
        // clone3's flags live in memory seccomp cannot read. When it is not allowed, say
        // "not implemented" so that libc falls back to clone, whose flags the filter checks.
        if (!policy.syscalls.count("clone3") && deny != SCMP_ACT_ERRNO(ENOSYS))
            add_rule(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, nullptr);
    } else if (!retain && !policy.all) {
        for (const auto& name : policy.syscalls) add_rule(ctx.get(), deny, name, 0, nullptr);
    }

    // libseccomp 2.5 exports only to a file descriptor.
    UniqueFd memfd(::memfd_create("rkt-seccomp", MFD_CLOEXEC));
    if (!memfd) throw system_error("seccomp: cannot create a memfd");
    check(seccomp_export_bpf(ctx.get(), memfd.get()), "export the filter");
    off_t size = ::lseek(memfd.get(), 0, SEEK_END);
    if (size < 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)
        throw Error("seccomp: the exported filter has a bad size");
    if (size / static_cast<off_t>(sizeof(sock_filter)) > BPF_MAXINSNS)
        throw Error("seccomp: the filter is longer than the kernel accepts (" +
                    std::to_string(size / sizeof(sock_filter)) + " instructions)");
    std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
    size_t done = 0;
    auto* bytes = reinterpret_cast<char*>(program.data());
    while (done < static_cast<size_t>(size)) {
        ssize_t n = io::retry_eintr([&] {
            return ::pread(memfd.get(), bytes + done, static_cast<size_t>(size) - done,
                           static_cast<off_t>(done));
        });
        if (n <= 0) throw system_error("seccomp: cannot read the exported filter");
        done += static_cast<size_t>(n);
    }
    return program;
}

}  // namespace rkt::isolation
