// What a VMM process is confined to, as Firecracker's jailer confines Firecracker: mount, PID,
// IPC, UTS, cgroup and network namespaces of its own; a root of its own (a tmpfs it pivots into,
// read-only once built) holding only what the JailSpec lists, bound read-only, nosuid, nodev
// and noexec wherever it can be; a uid and gid of its own, never root; only the capabilities
// it uses; rlimits (no core dumps, open files, processes, file size); no_new_privs; rkt's
// seccomp deny filter (vmm/sandbox.h). Its cgroups stay those of the process that starts it,
// so whatever bounds `rkt run` bounds the VMM too.
//
// A JailSpec is prepared before fork (PreparedJail::prepare allocates, checks and throws); in
// the child, enter_namespaces(), build_root() and drop_privileges() only make system calls.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rkt::vmm {

// A host file or directory the VMM sees inside its root.
struct JailBind {
    std::string source;  // host path
    std::string target;  // absolute path inside the jail
    bool directory = false;
    bool writable = false;
    bool recursive = false;  // with the mounts below it (a host volume)
};

struct JailSpec {
    // An empty host directory; the jail's root tmpfs is mounted on it in the VMM's own mount
    // namespace only (the host never sees anything there).
    std::filesystem::path mount_point;
    std::vector<JailBind> binds;
    // /usr (read-only, nosuid, nodev), the /bin and /lib links and /etc/ld.so.cache: what a
    // dynamically linked VMM (QEMU) needs to exec and load its libraries and firmware.
    bool system_files = false;
    bool proc = false;  // a /proc of the VMM's own PID namespace
    bool dev = false;   // /dev with null and urandom only
    // /dev/kvm, made in the jail's /dev with this device number and owned by uid:gid.
    std::optional<dev_t> kvm_device;
    uid_t uid = 0;  // the VMM's user and group: never 0
    gid_t gid = 0;
    // Capabilities the VMM keeps (CAP_* numbers; effective, permitted, inheritable and ambient,
    // so they survive execve); every other one is dropped, from the bounding set too.
    std::vector<int> capabilities;
    bool network_namespace = true;        // the pod has no network: the VMM gets an empty one
    std::optional<rlim_t> max_file_size;  // RLIMIT_FSIZE; nullopt: unchanged
    rlim_t max_open_files = 4096;
    rlim_t max_processes = 1024;  // RLIMIT_NPROC, for the VMM's own uid (its threads)
};

class PreparedJail {
public:
    // Checks `spec` (absolute paths, sources that exist with the right type, a non-root id)
    // and builds everything the child needs, including the seccomp program. Throws rkt::Error.
    static PreparedJail prepare(const JailSpec& spec);

    // In the child (which must already be in its new PID namespace, as root): new mount, IPC,
    // UTS, cgroup and network namespaces; every mount private. 0 or an errno; `step` names
    // what failed.
    int enter_namespaces(const char** step) const noexcept;
    // Mounts the root and pivots into it; the old root is gone afterwards. 0 or an errno.
    int build_root(const char** step) const noexcept;
    // rlimits, capabilities, groups, gid, uid, the parent-death signal (SIGKILL, checked
    // against `lifeline_fd`: a pipe whose write end only the parent holds), no_new_privs and
    // the seccomp filter, in that order. 0 or an errno.
    int drop_privileges(int lifeline_fd, const char** step) const noexcept;

    const JailSpec& spec() const { return spec_; }

private:
    struct Op {
        enum class Kind { kTmpfs, kDir, kFile, kSymlink, kBind, kLock, kNode, kProc };
        Kind kind;
        std::string path;         // on the host, under the mount point (before pivot_root)
        std::string source;       // kBind: host path; kSymlink: link text; kTmpfs: options
        unsigned long flags = 0;  // kTmpfs: mount flags; kLock: MOUNT_ATTR_*; kBind: MS_REC
        mode_t mode = 0;
        dev_t device = 0;
        bool chown_to_vmm = false;
    };

    JailSpec spec_;
    std::vector<Op> ops_;
    std::vector<sock_filter> filter_;
    std::vector<std::pair<int, rlimit>> limits_;
    uint64_t keep_capabilities_ = 0;
    int last_capability_ = 0;
};

}  // namespace rkt::vmm
