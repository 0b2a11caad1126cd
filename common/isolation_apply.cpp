// Applying a prepared policy in the child, between fork and execve. Only system calls here (and
// libcap's thin wrappers around them): no allocation, no exceptions, no locks, so that it is
// safe after fork even from a process that has threads.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/isolation.h"

namespace rkt::isolation {
namespace {

// Made read-only (rkt's list and Docker's).
constexpr const char* kReadOnlyPaths[] = {
    "/proc/bus", "/proc/fs",   "/proc/irq", "/proc/sys",    "/proc/sysrq-trigger", "/sys/block",
    "/sys/bus",  "/sys/class", "/sys/dev",  "/sys/devices", "/sys/kernel",
};
// Hidden under an empty, read-only tmpfs of mode 000.
constexpr const char* kMaskedDirectories[] = {
    "/sys/firmware", "/sys/fs",    "/sys/hypervisor",
    "/sys/module",   "/sys/power", "/proc/acpi",
    "/proc/asound",  "/proc/scsi", "/sys/devices/virtual/powercap",
};
// Hidden under an empty file of mode 000.
constexpr const char* kMaskedFiles[] = {
    "/proc/config.gz",  "/proc/kallsyms",    "/proc/sched_debug", "/proc/kcore",
    "/proc/kmem",       "/proc/mem",         "/proc/keys",        "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats",
};
constexpr const char kMaskFileName[] = "/.rkt-masked";

bool is_directory(const char* path) {
    struct stat st;
    return ::stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const char* path) {
    struct stat st;
    return ::stat(path, &st) == 0;
}

// Joins two strings into `buf` without allocating; false when it does not fit.
bool join(char* buf, size_t size, const char* a, const char* b) {
    size_t la = std::strlen(a), lb = std::strlen(b);
    if (la + lb + 1 > size) return false;
    std::memcpy(buf, a, la);
    std::memcpy(buf + la, b, lb);
    buf[la + lb] = '\0';
    return true;
}

unsigned long kept_flags(const char* path) {
    struct statvfs sv;
    if (::statvfs(path, &sv) != 0) return 0;
    unsigned long flags = 0;
    if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    return flags;
}

Failure bind_read_only(const char* source, const char* target) {
    if (::mount(source, target, nullptr, MS_BIND | MS_REC, nullptr) != 0)
        return {"bind", target, errno};
    if (::mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(target),
                nullptr) != 0)
        return {"make read-only", target, errno};
    return {};
}

Failure mask_directory(const char* dir, const char* options) {
    if (::mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0)
        return {"mask", dir, errno};
    return {};
}

Failure set_capabilities(uint64_t permitted, uint64_t inheritable) {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; ++i) {
        data[i].effective = static_cast<uint32_t>(permitted >> (32 * i));
        data[i].permitted = static_cast<uint32_t>(permitted >> (32 * i));
        data[i].inheritable = static_cast<uint32_t>(inheritable >> (32 * i));
    }
    if (::capset(&header, data) != 0) return {"set capabilities", nullptr, errno};
    return {};
}

Failure get_permitted(uint64_t* permitted) {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[2]{};
    if (::capget(&header, data) != 0) return {"read capabilities", nullptr, errno};
    *permitted = data[0].permitted | (uint64_t{data[1].permitted} << 32);
    return {};
}

}  // namespace

PreparedIsolation PreparedIsolation::prepare(const Policy& policy, const Identity& identity) {
    PreparedIsolation p;
    p.identity_ = identity;
    p.mask_paths_ = policy.mask_paths;
    p.last_cap_ = last_capability();
    const uint64_t all = CapabilitySet::all().mask();
    p.restrict_bounding_ = policy.capabilities.has_value();
    p.bounding_ = policy.capabilities ? policy.capabilities->mask() & all : all;
    if (identity.uid == 0) {
        // root: the bounding set is what it holds; nothing inheritable (an exec'd program
        // gets its capabilities from being root, not from inheritance).
        p.permitted_ = p.bounding_;
        p.inheritable_ = 0;
    } else if (policy.capabilities && policy.capabilities_granted_to_non_root) {
        // A non-root app that was granted capabilities by name keeps them across execve.
        p.permitted_ = p.bounding_;
        p.inheritable_ = p.bounding_;
    } else {
        p.permitted_ = 0;
        p.inheritable_ = 0;
    }
    p.no_new_privileges_ = policy.no_new_privileges;
    if (policy.oom_score_adj) {
        p.has_oom_score_adj_ = true;
        std::string text = std::to_string(*policy.oom_score_adj);
        std::memcpy(p.oom_score_adj_, text.c_str(), text.size() + 1);
    }
    if (policy.seccomp) p.seccomp_program_ = compile_seccomp(*policy.seccomp);
    return p;
}

Failure PreparedIsolation::restrict_paths() const noexcept {
    if (!mask_paths_) return {};
    for (const char* path : kReadOnlyPaths) {
        if (!exists(path)) continue;
        if (Failure f = bind_read_only(path, path)) return f;
    }
    // Files are masked with an empty mode-000 file made on a scratch tmpfs over the first
    // masked directory there is; that directory is masked for good afterwards.
    const char* scratch = nullptr;
    char mask_file[256];
    for (const char* dir : kMaskedDirectories) {
        if (!is_directory(dir)) continue;
        if (!join(mask_file, sizeof mask_file, dir, kMaskFileName)) continue;
        if (Failure f = mask_directory(dir, "mode=0700,size=16k,nr_inodes=4")) return f;
        int fd = ::open(mask_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
        // Not mask_file itself: a Failure outlives this frame, so it names only static text.
        if (fd < 0) return {"create the mask file in", dir, errno};
        ::close(fd);
        scratch = dir;
        break;
    }
    for (const char* file : kMaskedFiles) {
        if (!exists(file)) continue;
        // Without a scratch directory (no /sys), /dev/null serves, as in Docker.
        if (Failure f = bind_read_only(scratch ? mask_file : "/dev/null", file)) return f;
    }
    if (scratch && ::umount2(scratch, MNT_DETACH) != 0) return {"unmount", scratch, errno};
    for (const char* dir : kMaskedDirectories) {
        if (!is_directory(dir)) continue;
        if (Failure f = mask_directory(dir, "mode=000,size=4k,nr_inodes=1")) return f;
        if (::mount(nullptr, dir, nullptr,
                    MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "mode=000,size=4k,nr_inodes=1") != 0)
            return {"make read-only", dir, errno};
    }
    return {};
}

Failure PreparedIsolation::drop_privileges(const char* working_directory) const noexcept {
    if (has_oom_score_adj_) {
        int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0) return {"open", "/proc/self/oom_score_adj", errno};
        ssize_t n = ::write(fd, oom_score_adj_, std::strlen(oom_score_adj_));
        int err = errno;
        ::close(fd);
        if (n < 0) return {"set oom_score_adj", nullptr, err};
    }
    const auto& groups = identity_.supplementary_gids;
    if (::setgroups(groups.size(), groups.data()) != 0)
        return {"set the supplementary groups", nullptr, errno};
    if (::setresgid(identity_.gid, identity_.gid, identity_.gid) != 0)
        return {"set the group id", nullptr, errno};
    if (restrict_bounding_) {
        for (int cap = 0; cap <= last_cap_; ++cap) {
            if ((bounding_ >> cap) & 1) continue;
            if (cap_drop_bound(static_cast<cap_value_t>(cap)) != 0 && errno != EINVAL)
                return {"drop a capability from the bounding set", nullptr, errno};
        }
    }
    // Keep the permitted set across the switch to a non-root uid; capset then trims it.
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return {"keep capabilities", nullptr, errno};
    if (::setresuid(identity_.uid, identity_.uid, identity_.uid) != 0)
        return {"set the user id", nullptr, errno};
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return {"reset keepcaps", nullptr, errno};

    // Nobody can grant what this process does not hold (rkt may itself run with fewer
    // capabilities than the kernel knows): keep what is both wanted and held.
    uint64_t held = 0;
    if (Failure f = get_permitted(&held)) return f;
    const uint64_t permitted = permitted_ & held;
    const uint64_t inheritable = inheritable_ & held;
    // Without no_new_privs, loading a filter takes CAP_SYS_ADMIN: hold it until then.
    const uint64_t admin = uint64_t{1} << CAP_SYS_ADMIN;
    const bool hold_admin =
        !seccomp_program_.empty() && !no_new_privileges_ && !(permitted & admin);
    if (Failure f = set_capabilities(permitted | (hold_admin ? admin : 0), inheritable)) return f;
    if (cap_reset_ambient() != 0 && errno != EINVAL)
        return {"clear the ambient capabilities", nullptr, errno};
    for (int cap = 0; cap <= last_cap_; ++cap) {
        if (!((inheritable >> cap) & 1)) continue;
        if (cap_set_ambient(static_cast<cap_value_t>(cap), CAP_SET) != 0)
            return {"raise an ambient capability", nullptr, errno};
    }

    if (working_directory && *working_directory && ::chdir(working_directory) != 0)
        return {"change to the working directory", working_directory, errno};

    if (no_new_privileges_ && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return {"set no_new_privs", nullptr, errno};
    if (!seccomp_program_.empty()) {
        sock_fprog program{};
        program.len = static_cast<unsigned short>(seccomp_program_.size());
        program.filter = const_cast<sock_filter*>(seccomp_program_.data());
        if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) != 0)
            return {"load the seccomp filter", nullptr, errno};
    }
    if (hold_admin) {
        if (Failure f = set_capabilities(permitted, inheritable)) return f;
    }
    return {};
}

size_t format_failure(const Failure& failure, char* buf, size_t size) noexcept {
    if (size == 0) return 0;
    size_t len = 0;
    auto put = [&](const char* s) {
        while (s && *s && len + 1 < size) buf[len++] = *s++;
    };
    if (!failure) {
        buf[0] = '\0';
        return 0;
    }
    put("cannot ");
    put(failure.step);
    if (failure.detail) {
        put(" ");
        put(failure.detail);
    }
    put(": ");
    const char* text = ::strerrordesc_np(failure.error);
    put(text ? text : "unknown error");
    buf[len] = '\0';
    return len;
}

std::string describe(const Failure& failure) {
    char buf[512];
    size_t n = format_failure(failure, buf, sizeof buf);
    return std::string(buf, n);
}

}  // namespace rkt::isolation
