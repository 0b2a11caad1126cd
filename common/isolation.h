// The isolation policy of an app, shared by the nspawn stage1 (on the host) and guest-init (inside
// the VM): capabilities, seccomp, masked and read-only /proc and /sys paths, no_new_privs and
// the user/group the app runs as. docs/isolation.md describes the defaults and how to lift them.
//
// Two halves:
//  - building a Policy from an app's isolators (+ --insecure-options) and resolving its Identity
//    happens before fork, allocates and throws rkt::Error with a one-line message;
//  - PreparedIsolation turns both into plain data (a BPF program, capability masks, gid arrays)
//    so that the child, after fork, only issues system calls: no allocation, no exceptions.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/pod_manifest.h"

namespace rkt::isolation {

// ---- isolator names (appc) ----
inline constexpr std::string_view kCapsRetainIsolator = "os/linux/capabilities-retain-set";
inline constexpr std::string_view kCapsRemoveIsolator = "os/linux/capabilities-remove-set";
inline constexpr std::string_view kSeccompRetainIsolator = "os/linux/seccomp-retain-set";
inline constexpr std::string_view kSeccompRemoveIsolator = "os/linux/seccomp-remove-set";
inline constexpr std::string_view kNoNewPrivsIsolator = "os/linux/no-new-privileges";
inline constexpr std::string_view kOomScoreAdjIsolator = "os/linux/oom-score-adj";
inline constexpr std::string_view kMemoryIsolator = "resource/memory";
inline constexpr std::string_view kCpuIsolator = "resource/cpu";
// appc's name, and the one `rkt run --cpu-shares` writes.
inline constexpr std::string_view kCpuSharesIsolator = "os/linux/cpu-shares";
inline constexpr std::string_view kCpuSharesAltIsolator = "resource/cpu-shares";
// {"limit": N} or {"limit": "max"}: the most tasks (processes and threads) the app may have.
inline constexpr std::string_view kPidsIsolator = "resource/pids";
// The pids limit of an app that names none: a fork bomb stops there, well below the host's
// pid_max, while ordinary servers (a few hundred threads) never meet it.
inline constexpr uint64_t kDefaultPidsLimit = 4096;

// What --insecure-options lifted (run-options.json "insecureOptions", or the stage1 flags
// --disable-capabilities-restriction, --disable-seccomp, --disable-paths).
struct InsecureOptions {
    bool capabilities = false;
    bool seccomp = false;
    bool paths = false;
    // Reads insecure option names ("image", "seccomp", "all-run", ...); names that do not
    // concern isolation are ignored.
    static InsecureOptions from_names(const std::vector<std::string>& names);
};

// ---- capabilities ----

// A set of Linux capabilities, by number (0..63).
class CapabilitySet {
public:
    CapabilitySet() = default;
    static CapabilitySet from_mask(uint64_t mask) { return CapabilitySet(mask); }
    // The 14 capabilities of appc, rkt and Docker.
    static CapabilitySet defaults();
    // Every capability this kernel knows (0..cap_last_cap).
    static CapabilitySet all();
    // Parses names ("CAP_NET_ADMIN", "net_admin", "cap_net_admin"); throws an Error naming an
    // unknown one.
    static CapabilitySet from_names(const std::vector<std::string>& names);

    bool has(int cap) const { return cap >= 0 && cap < 64 && (mask_ >> cap) & 1; }
    void add(int cap) { mask_ |= uint64_t{1} << cap; }
    void remove(int cap) { mask_ &= ~(uint64_t{1} << cap); }
    uint64_t mask() const { return mask_; }
    bool empty() const { return mask_ == 0; }
    // "CAP_CHOWN", ... in number order.
    std::vector<std::string> names() const;
    bool operator==(const CapabilitySet&) const = default;

private:
    explicit CapabilitySet(uint64_t mask) : mask_(mask) {}
    uint64_t mask_ = 0;
};

// Number of a capability name in any of the spellings above; throws an Error naming it.
int capability_from_name(std::string_view name);
// "CAP_CHOWN"; "CAP_<n>" for a number this build has no name for.
std::string capability_name(int cap);
// The highest capability number the running kernel knows.
int last_capability();

// ---- seccomp ----

enum class SeccompMode {
    kRetain,  // allow-list: only the named system calls are allowed
    kRemove,  // deny-list: everything but the named system calls is allowed
};

struct SeccompPolicy {
    SeccompMode mode = SeccompMode::kRetain;
    // @appc.io/all was named: with kRetain nothing is restricted, with kRemove everything is.
    bool all = false;
    std::set<std::string> syscalls;  // group names expanded; every name known to libseccomp
    // Allowed only with Docker's argument checks (clone without namespace flags, personality
    // with the usual personas): the names that came from a default group, not named explicitly.
    std::set<std::string> argument_filtered;
    // What a denied call returns: an errno (default EPERM), or 0 to kill the process (SIGSYS).
    int errno_code = 1;  // EPERM
    bool operator==(const SeccompPolicy&) const = default;
};

// The names in a group ("@docker/default-whitelist", ...), for `caps` (the default allow-lists
// add the calls Docker allows only with a capability, when the app has that capability).
// Throws an Error naming an unknown group.
std::vector<std::string> syscall_group(std::string_view group, const CapabilitySet& caps);
// The policy used when an app has no seccomp isolator: Docker's allow-list for `caps` (with its
// argument checks), EPERM for the rest.
SeccompPolicy default_seccomp(const CapabilitySet& caps);
// Every group name this build knows, for messages and docs.
std::vector<std::string> syscall_group_names();
// Number of an errno name ("EPERM", "EXFULL"); throws an Error naming an unknown one.
int errno_from_name(std::string_view name);
// "EPERM"; the decimal value for a number this build has no name for.
std::string errno_name(int value);

// ---- the policy ----

struct Policy {
    // The bounding set; nullopt when --insecure-options=capabilities lifted the restriction.
    std::optional<CapabilitySet> capabilities = CapabilitySet::defaults();
    // A retain-set isolator named the capabilities explicitly: a non-root app then holds them
    // (inheritable + ambient), since naming them for a non-root app means "let it use them".
    bool capabilities_granted_to_non_root = false;
    std::optional<SeccompPolicy> seccomp;  // nullopt: no filter
    bool mask_paths = true;                // masked and read-only /proc and /sys paths
    bool no_new_privileges = true;
    std::optional<int> oom_score_adj;
    bool operator==(const Policy&) const = default;
};

// The policy of an app from its isolators; throws an Error that names the bad isolator, the
// unknown capability or system call, or the conflict. Isolators it does not know are ignored.
Policy policy_from_isolators(const std::vector<Isolator>& isolators,
                             const InsecureOptions& insecure);
inline Policy policy_for_app(const AppSpec& app, const InsecureOptions& insecure) {
    return policy_from_isolators(app.isolators, insecure);
}

// resource/memory and resource/cpu limits and the CPU shares (nullopt when absent), and the pids
// limit; throws on a malformed value.
struct ResourceLimits {
    std::optional<uint64_t> memory_bytes;
    std::optional<uint64_t> cpu_millis;
    std::optional<uint64_t> cpu_shares;  // 2..262144, as cgroup v1's cpu.shares
    // resource/pids, else kDefaultPidsLimit; nullopt = unlimited ("max").
    std::optional<uint64_t> pids_max = kDefaultPidsLimit;
};
// Parses a pids limit as --pids-limit and resource/pids take it: a positive number or "max"
// (nullopt); throws naming `what` otherwise.
std::optional<uint64_t> parse_pids_limit(std::string_view text, std::string_view what);
ResourceLimits resource_limits(const std::vector<Isolator>& isolators);

// ---- command-line flags (stage0) ----

// The values of rkt run's per-app flags: --caps-retain=CAP_A,CAP_B, --caps-remove=...,
// --seccomp=mode=retain|remove[,errno=ENAME],name,@group,...
struct IsolatorFlags {
    std::optional<std::string> caps_retain;
    std::optional<std::string> caps_remove;
    std::optional<std::string> seccomp;
};
// The isolators the flags stand for, validated (unknown names, both caps flags, a --seccomp
// without mode=) with one clear Error.
std::vector<Isolator> isolators_from_flags(const IsolatorFlags& flags);
// Replaces the app's capability and/or seccomp isolators with those of the flags, as rkt did
// (flags override the image's isolators of the same kind).
void apply_isolator_flags(AppSpec& app, const IsolatorFlags& flags);

// ---- user and groups ----

struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> supplementary_gids;
    std::string user_name;  // from /etc/passwd when found; empty otherwise
    std::string home = "/";
    bool operator==(const Identity&) const = default;
};

// Resolves app.user / app.group (numbers, names from the rootfs's /etc/passwd and /etc/group,
// or an absolute path whose owner is used, as appc allows) and the supplementary groups
// (app.supplementaryGIDs plus the /etc/group memberships of the user). The files are read
// inside `rootfs` without ever leaving it (symlinks are resolved relative to it).
Identity resolve_identity(const AppSpec& app, const std::filesystem::path& rootfs);
Identity resolve_identity(const AppSpec& app, int rootfs_fd);

// ---- applying it in the child ----

// The BPF program of a seccomp policy for this architecture (and its 32-bit ABIs on x86-64).
// Throws an Error when libseccomp refuses it.
std::vector<sock_filter> compile_seccomp(const SeccompPolicy& policy);

// A step that failed in the child: static texts and an errno. Empty on success.
struct Failure {
    const char* step = nullptr;    // "set the user id", "mask", ...
    const char* detail = nullptr;  // the path concerned, if any
    int error = 0;
    explicit operator bool() const { return step != nullptr; }
};
// "cannot <step> [<detail>]: <strerror>".
std::string describe(const Failure& failure);
// The same into `buf` (NUL-terminated, truncated to `size`) without allocating, for a child
// that reports to its parent through a pipe. Returns the length written.
size_t format_failure(const Failure& failure, char* buf, size_t size) noexcept;

class PreparedIsolation {
public:
    // Everything that allocates happens here, before fork: the BPF program, the masks.
    static PreparedIsolation prepare(const Policy& policy, const Identity& identity);

    // Masks and makes read-only the /proc and /sys paths of the current root (a no-op when the
    // policy does not mask paths). Call it in the app's own mount namespace, after chroot or
    // pivot_root and after /proc, /sys and /dev (with /dev/null) are mounted there.
    Failure restrict_paths() const noexcept;

    // Switches to the app's user and groups, sets oom_score_adj, drops capabilities (bounding,
    // permitted, effective, inheritable, ambient), changes to `working_directory` as the app
    // user, sets no_new_privs and loads the seccomp filter. Call it last, right before execve:
    // with a filter loaded, any further system call may be denied.
    Failure drop_privileges(const char* working_directory) const noexcept;

    const std::vector<sock_filter>& seccomp_program() const { return seccomp_program_; }
    const Identity& identity() const { return identity_; }

private:
    Identity identity_;
    bool mask_paths_ = true;
    bool restrict_bounding_ = true;
    uint64_t bounding_ = 0;
    uint64_t permitted_ = 0;    // also effective
    uint64_t inheritable_ = 0;  // also ambient
    bool no_new_privileges_ = true;
    bool has_oom_score_adj_ = false;
    char oom_score_adj_[16] = {};
    std::vector<sock_filter> seccomp_program_;  // empty: no filter
    int last_cap_ = 40;
};

}  // namespace rkt::isolation
