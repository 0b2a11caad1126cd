#include "vmm/jail.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "vmm/sandbox.h"

namespace rkt::vmm {

namespace {

constexpr const char* kHostname = "rkt-vmm";
// The root holds directories, empty files as mount points and links: tiny.
constexpr const char* kRootOptions = "mode=0755,size=256k,nr_inodes=512";
constexpr const char* kDevOptions = "mode=0755,size=16k,nr_inodes=16";
// What a dynamically linked VMM needs besides /usr (each a link into usr/ on a merged-/usr
// system, else a directory bound read-only).
constexpr const char* kSystemTopDirs[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
constexpr const char* kLoaderCache = "/etc/ld.so.cache";

int last_capability() {
    auto text = fs::read_file_if_exists("/proc/sys/kernel/cap_last_cap");
    if (text && strings::is_decimal(strings::trim(*text))) return std::stoi(strings::trim(*text));
    return CAP_LAST_CAP;
}

// A clean absolute path: no "." or ".." components, no empty ones, not "/".
bool is_clean_absolute(const std::string& p) {
    if (p.size() < 2 || p[0] != '/' || p.back() == '/') return false;
    for (const auto& part : strings::split(p.substr(1), '/'))
        if (part.empty() || part == "." || part == "..") return false;
    return p.find('\0') == std::string::npos;
}

rlimit lowered(int resource, rlim_t value) {
    rlimit now{};
    if (::getrlimit(resource, &now) != 0) throw system_error("getrlimit");
    rlim_t v = std::min(value, now.rlim_max);
    return {v, v};
}

int step_failed(const char** step, const char* what) {
    *step = what;
    return errno ? errno : EINVAL;
}

}  // namespace

PreparedJail PreparedJail::prepare(const JailSpec& spec) {
    PreparedJail j;
    j.spec_ = spec;
    std::string root = spec.mount_point.string();
    if (!spec.mount_point.is_absolute())
        throw Error("the VMM's jail directory must be an absolute path: " + root);
    struct stat st {};
    if (::lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw Error("the VMM's jail directory " + root + " is not a directory");
    if (spec.uid == 0 || spec.gid == 0)
        throw Error("the VMM must not run as root (uid and gid of its own)");
    j.last_capability_ = last_capability();
    for (int cap : spec.capabilities) {
        if (cap < 0 || cap > j.last_capability_ || cap > 63)
            throw Error("the VMM's jail: unknown capability " + std::to_string(cap));
        j.keep_capabilities_ |= uint64_t{1} << cap;
    }
    bool reads_everything = (j.keep_capabilities_ & (uint64_t{1} << CAP_DAC_OVERRIDE)) != 0;

    using K = Op::Kind;
    std::set<std::string> dirs;
    auto add_dirs_to = [&](const std::string& target) {  // the parents of `target`
        size_t pos = 0;
        while ((pos = target.find('/', pos + 1)) != std::string::npos) {
            std::string d = target.substr(0, pos);
            if (dirs.insert(d).second) j.ops_.push_back({K::kDir, root + d, "", 0, 0755});
        }
    };
    auto add_bind = [&](const std::string& source, const std::string& target, bool directory,
                        unsigned long attributes, bool recursive) {
        add_dirs_to(target);
        if (directory) {
            dirs.insert(target);
            j.ops_.push_back({K::kDir, root + target, "", 0, 0755});
        } else {
            j.ops_.push_back({K::kFile, root + target, "", 0, 0444});
        }
        j.ops_.push_back({K::kBind, root + target, source,
                          recursive ? static_cast<unsigned long>(MS_REC) : 0UL});
        j.ops_.push_back({K::kLock, root + target, "", attributes, recursive ? 1U : 0U});
    };

    j.ops_.push_back({K::kTmpfs, root, kRootOptions, MS_NOSUID | MS_NODEV});
    const unsigned long system_attributes =
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (spec.system_files) {
        if (::stat("/usr", &st) != 0 || !S_ISDIR(st.st_mode)) throw Error("this host has no /usr");
        add_bind("/usr", "/usr", true, system_attributes, false);
        for (const char* name : kSystemTopDirs) {
            std::string host = std::string("/") + name;
            if (::lstat(host.c_str(), &st) != 0) continue;
            if (S_ISLNK(st.st_mode)) {
                std::error_code ec;
                auto text = std::filesystem::read_symlink(host, ec);
                if (ec) throw Error("cannot read the link " + host);
                j.ops_.push_back({K::kSymlink, root + host, text.string()});
            } else if (S_ISDIR(st.st_mode)) {
                add_bind(host, host, true, system_attributes, false);
            }
        }
        if (::stat(kLoaderCache, &st) == 0 && S_ISREG(st.st_mode))
            add_bind(kLoaderCache, kLoaderCache, false, system_attributes, false);
    }

    std::set<std::string> targets;
    for (const auto& b : spec.binds) {
        if (!is_clean_absolute(b.target) || !targets.insert(b.target).second ||
            b.target == "/usr" || b.target.rfind("/usr/", 0) == 0 || b.target == "/dev" ||
            b.target == "/proc" || b.target.rfind("/dev/", 0) == 0 ||
            b.target.rfind("/proc/", 0) == 0)
            throw Error("the VMM's jail: bad or repeated target path \"" + b.target + "\"");
        if (::stat(b.source.c_str(), &st) != 0)
            throw system_error("the VMM's jail: cannot find " + b.source);
        if (b.directory != S_ISDIR(st.st_mode) || (!b.directory && !S_ISREG(st.st_mode)))
            throw Error("the VMM's jail: " + b.source + " is not a " +
                        (b.directory ? "directory" : "regular file"));
        if (!b.directory && !reads_everything && (st.st_mode & S_IROTH) == 0) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
            throw Error("the VMM, which runs as an unprivileged user, cannot read " + b.source +
                        " (mode " + mode + "): make it readable by all (chmod a+r)");
        }
        unsigned long attributes = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        if (!b.writable) attributes |= MOUNT_ATTR_RDONLY;
        add_bind(b.source, b.target, b.directory, attributes, b.recursive);
    }

    if (spec.dev || spec.kvm_device) {
        j.ops_.push_back({K::kDir, root + "/dev", "", 0, 0755});
        j.ops_.push_back({K::kTmpfs, root + "/dev", kDevOptions, MS_NOSUID | MS_NOEXEC});
        j.ops_.push_back({K::kNode, root + "/dev/null", "", 0, 0666, makedev(1, 3)});
        j.ops_.push_back({K::kNode, root + "/dev/urandom", "", 0, 0666, makedev(1, 9)});
        if (spec.kvm_device)
            j.ops_.push_back({K::kNode, root + "/dev/kvm", "", 0, 0600, *spec.kvm_device, true});
        j.ops_.push_back({K::kLock, root + "/dev", "",
                          MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC});
    }
    if (spec.proc) {
        j.ops_.push_back({K::kDir, root + "/proc", "", 0, 0555});
        j.ops_.push_back({K::kProc, root + "/proc"});
    }

    j.limits_.emplace_back(RLIMIT_CORE, rlimit{0, 0});
    j.limits_.emplace_back(RLIMIT_NOFILE, lowered(RLIMIT_NOFILE, spec.max_open_files));
    j.limits_.emplace_back(RLIMIT_NPROC, lowered(RLIMIT_NPROC, spec.max_processes));
    if (spec.max_file_size)
        j.limits_.emplace_back(RLIMIT_FSIZE, lowered(RLIMIT_FSIZE, *spec.max_file_size));
    j.filter_ = process_deny_filter();
    return j;
}

int PreparedJail::enter_namespaces(const char** step) const noexcept {
    int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    if (spec_.network_namespace) flags |= CLONE_NEWNET;
    if (::unshare(flags) != 0) return step_failed(step, "unshare");
    // Nothing mounted from here on reaches the host, nor anything of the host's later mounts.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return step_failed(step, "making the mounts private");
    if (::sethostname(kHostname, std::strlen(kHostname)) != 0)
        return step_failed(step, "sethostname");
    return 0;
}

int PreparedJail::build_root(const char** step) const noexcept {
    using K = Op::Kind;
    ::umask(0);
    for (const Op& op : ops_) {
        const char* p = op.path.c_str();
        switch (op.kind) {
            case K::kTmpfs:
                if (::mount("tmpfs", p, "tmpfs", op.flags, op.source.c_str()) != 0)
                    return step_failed(step, "mounting the jail's tmpfs");
                break;
            case K::kDir:
                if (::mkdir(p, op.mode) != 0 && errno != EEXIST)
                    return step_failed(step, "creating a directory in the jail");
                break;
            case K::kFile: {
                int fd = ::open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, op.mode);
                if (fd < 0) return step_failed(step, "creating a file in the jail");
                ::close(fd);
                break;
            }
            case K::kSymlink:
                if (::symlink(op.source.c_str(), p) != 0)
                    return step_failed(step, "creating a link in the jail");
                break;
            case K::kBind:
                if (::mount(op.source.c_str(), p, nullptr, MS_BIND | op.flags, nullptr) != 0)
                    return step_failed(step, "binding a host path into the jail");
                break;
            case K::kLock: {
                mount_attr attr{};
                attr.attr_set = op.flags;
                unsigned at = op.mode ? AT_RECURSIVE : 0U;
                if (::mount_setattr(AT_FDCWD, p, at, &attr, sizeof attr) != 0)
                    return step_failed(step, "making a jail mount read-only/nosuid/nodev");
                break;
            }
            case K::kNode:
                if (::mknod(p, S_IFCHR | op.mode, op.device) != 0)
                    return step_failed(step, "creating a device node in the jail");
                if (op.chown_to_vmm && ::chown(p, spec_.uid, spec_.gid) != 0)
                    return step_failed(step, "giving /dev/kvm to the VMM's user");
                break;
            case K::kProc:
                // Only the process directories (and self): no /proc/sys, no host-wide files.
                if (::mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid") !=
                        0 &&
                    (errno != EINVAL ||
                     ::mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0))
                    return step_failed(step, "mounting the jail's /proc");
                break;
        }
    }
    if (::chdir(spec_.mount_point.c_str()) != 0) return step_failed(step, "chdir to the jail");
    // The new root over the old one, then the old one detached: nothing of the host is left.
    if (::syscall(SYS_pivot_root, ".", ".") != 0) return step_failed(step, "pivot_root");
    if (::umount2(".", MNT_DETACH) != 0) return step_failed(step, "detaching the host's root");
    if (::chdir("/") != 0) return step_failed(step, "chdir /");
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (::mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) != 0)
        return step_failed(step, "making the jail's root read-only");
    ::umask(022);
    return 0;
}

int PreparedJail::drop_privileges(int lifeline_fd, const char** step) const noexcept {
    for (const auto& [resource, limit] : limits_)
        if (::setrlimit(resource, &limit) != 0) return step_failed(step, "setrlimit");
    // The bounding set while CAP_SETPCAP is still there.
    for (int cap = 0; cap <= last_capability_; ++cap) {
        if (cap < 64 && (keep_capabilities_ >> cap) & 1) continue;
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return step_failed(step, "dropping a capability from the bounding set");
    }
    if (keep_capabilities_ && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        return step_failed(step, "PR_SET_KEEPCAPS");
    if (::setgroups(0, nullptr) != 0) return step_failed(step, "setgroups");
    if (::setresgid(spec_.gid, spec_.gid, spec_.gid) != 0) return step_failed(step, "setresgid");
    if (::setresuid(spec_.uid, spec_.uid, spec_.uid) != 0) return step_failed(step, "setresuid");
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; ++i) {
        auto bits = static_cast<uint32_t>(keep_capabilities_ >> (32 * i));
        data[i].effective = data[i].permitted = data[i].inheritable = bits;
    }
    if (::syscall(SYS_capset, &header, data) != 0) return step_failed(step, "capset");
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        return step_failed(step, "clearing the ambient capabilities");
    for (int cap = 0; cap < 64; ++cap) {
        if (((keep_capabilities_ >> cap) & 1) &&
            ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
            return step_failed(step, "raising an ambient capability");
    }
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return step_failed(step, "PR_SET_KEEPCAPS");
    // A change of uid clears the parent-death signal: set it (again) now, then make sure the
    // parent did not die before it was set.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        return step_failed(step, "PR_SET_PDEATHSIG");
    pollfd p{lifeline_fd, POLLIN, 0};
    if (lifeline_fd >= 0 && ::poll(&p, 1, 0) != 0) {
        errno = ESRCH;
        return step_failed(step, "the stage1 went away");
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return step_failed(step, "no_new_privs");
    if (int e = load_process_filter(filter_); e != 0) {
        errno = e;
        return step_failed(step, "loading rkt's seccomp filter");
    }
    return 0;
}

}  // namespace rkt::vmm
