#include "stage1-nspawn/app_root.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/isolation_rootfs.h"
#include "common/strings.h"

namespace rkt::nspawn {
namespace {

// A path that mount(2) follows to exactly the object behind `fd` (no re-resolution).
std::string fd_path(int fd) {
    return "/proc/self/fd/" + std::to_string(fd);
}

void do_mount(const char* source, const std::string& target, const char* type, unsigned long flags,
              const char* data, const std::string& what) {
    if (::mount(source, target.c_str(), type, flags, data) != 0)
        throw system_error("cannot mount " + what);
}

// Makes the mount at `target` read-only, with its submounts when `recursive`.
void make_read_only(int root_fd, const std::string& target, bool recursive) {
    // Resolve again: the earlier fd is the directory under the new mount.
    rootfs::Resolved r = rootfs::resolve(root_fd, target);
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
    if (::syscall(SYS_mount_setattr, r.fd.get(), "", flags, &attr, sizeof attr) == 0) return;
    if (errno != ENOSYS) throw system_error("cannot make " + target + " read-only");
    struct statvfs sv {};
    unsigned long kept = 0;
    if (::fstatvfs(r.fd.get(), &sv) == 0) {
        if (sv.f_flag & ST_NOSUID) kept |= MS_NOSUID;
        if (sv.f_flag & ST_NODEV) kept |= MS_NODEV;
        if (sv.f_flag & ST_NOEXEC) kept |= MS_NOEXEC;
    }
    do_mount(nullptr, fd_path(r.fd.get()), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | kept,
             nullptr, target + " read-only");
}

// In a user namespace no device node can be made (and a tmpfs mounted there ignores them):
// the host's node is bound onto an empty file instead, as LXC does.
void make_device(int dev_fd, const char* name, unsigned major, unsigned minor,
                 bool user_namespace) {
    if (user_namespace) {
        int fd = ::openat(dev_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) throw system_error(std::string("cannot create /dev/") + name);
        ::close(fd);
        UniqueFd target(::openat(dev_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
        std::string host = std::string("/dev/") + name;
        do_mount(host.c_str(), fd_path(target.get()), nullptr, MS_BIND, nullptr, host);
        return;
    }
    if (::mknodat(dev_fd, name, S_IFCHR | 0666, makedev(major, minor)) != 0)
        throw system_error(std::string("cannot create /dev/") + name);
    if (::fchmodat(dev_fd, name, 0666, 0) != 0)
        throw system_error(std::string("cannot set the mode of /dev/") + name);
}

// Device nodes on this mount open nothing.
void make_nodev(int mount_fd, const std::string& what) {
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_NODEV;
    if (::syscall(SYS_mount_setattr, mount_fd, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
        throw system_error("cannot make " + what + " nodev");
}

// Attaches a detached mount (open_tree) on `target_fd`.
void attach(int mount_fd, int target_fd, const std::string& what) {
    if (::syscall(SYS_move_mount, mount_fd, "", target_fd, "",
                  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        throw system_error("cannot mount " + what);
}

UniqueFd detached_clone(const stdfs::path& source, bool recursive, const std::string& what) {
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
    UniqueFd fd(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, source.c_str(), flags)));
    if (!fd) throw system_error("cannot take " + what + " (" + source.string() + ") to mount it");
    return fd;
}

void make_symlink(int dev_fd, const char* target, const char* name) {
    if (::symlinkat(target, dev_fd, name) != 0)
        throw system_error(std::string("cannot create /dev/") + name);
}

Pty setup_dev(int root_fd, bool terminal, bool user_namespace) {
    rootfs::Resolved dev = rootfs::resolve(root_fd, "/dev", rootfs::Create::kDirectory);
    do_mount("tmpfs", fd_path(dev.fd.get()), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k",
             "/dev");
    UniqueFd dev_fd = rootfs::open(root_fd, "/dev", O_RDONLY | O_DIRECTORY);
    make_device(dev_fd.get(), "null", 1, 3, user_namespace);
    make_device(dev_fd.get(), "zero", 1, 5, user_namespace);
    make_device(dev_fd.get(), "full", 1, 7, user_namespace);
    make_device(dev_fd.get(), "random", 1, 8, user_namespace);
    make_device(dev_fd.get(), "urandom", 1, 9, user_namespace);
    make_device(dev_fd.get(), "tty", 5, 0, user_namespace);
    for (const char* dir : {"pts", "shm"})
        if (::mkdirat(dev_fd.get(), dir, 0755) != 0)
            throw system_error(std::string("cannot create /dev/") + dir);
    UniqueFd pts(::openat(dev_fd.get(), "pts", O_PATH | O_DIRECTORY | O_CLOEXEC));
    do_mount("devpts", fd_path(pts.get()), "devpts", MS_NOSUID | MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5", "/dev/pts");
    Pty console;
    if (terminal) {
        // The devpts just mounted (the earlier descriptor is the directory under it).
        UniqueFd devpts(::openat(dev_fd.get(), "pts", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!devpts) throw system_error("cannot open /dev/pts");
        console = open_pty(devpts.get());
    }
    UniqueFd shm(::openat(dev_fd.get(), "shm", O_PATH | O_DIRECTORY | O_CLOEXEC));
    do_mount("tmpfs", fd_path(shm.get()), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
             "mode=1777,size=65536k", "/dev/shm");
    make_symlink(dev_fd.get(), "pts/ptmx", "ptmx");
    make_symlink(dev_fd.get(), "/proc/self/fd", "fd");
    make_symlink(dev_fd.get(), "/proc/self/fd/0", "stdin");
    make_symlink(dev_fd.get(), "/proc/self/fd/1", "stdout");
    make_symlink(dev_fd.get(), "/proc/self/fd/2", "stderr");
    // An interactive app's terminal is also its console.
    if (terminal) {
        int fd = ::openat(dev_fd.get(), "console", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) throw system_error("cannot create /dev/console");
        ::close(fd);
        UniqueFd target(::openat(dev_fd.get(), "console", O_PATH | O_CLOEXEC));
        do_mount(fd_path(console.slave.get()).c_str(), fd_path(target.get()), nullptr, MS_BIND,
                 nullptr, "the terminal on /dev/console");
    }
    return console;
}

void mount_volume(int root_fd, const MountPlan& m, int source_fd) {
    rootfs::Resolved target = with_context("mount target " + m.target, [&] {
        return rootfs::resolve(root_fd, m.target,
                               m.directory ? rootfs::Create::kDirectory : rootfs::Create::kFile);
    });
    struct stat st {};
    if (::fstat(target.fd.get(), &st) != 0) throw system_error("cannot stat " + m.target);
    if (m.directory != S_ISDIR(st.st_mode))
        throw Error("cannot mount " + m.source.string() + " on " + m.target + ": one is a " +
                    "directory and the other is not");
    attach(source_fd, target.fd.get(), m.source.string() + " on " + m.target);
    if (m.read_only) make_read_only(root_fd, m.target, m.recursive);
}

}  // namespace

AppRootSources AppRootSources::open(const AppPlan& plan) {
    AppRootSources s;
    if (plan.pod_copy) {
        s.tree = fs::open_file(plan.tree, O_PATH | O_DIRECTORY);
        s.tree_mount = detached_clone(plan.tree, false, "the app's tree");
        make_nodev(s.tree_mount.get(), "the app's tree");
    }
    for (const auto& m : plan.mounts) {
        s.mounts.push_back(detached_clone(m.source, m.recursive, "the source of " + m.target));
        if (m.nodev) make_nodev(s.mounts.back().get(), "the source of " + m.target);
    }
    return s;
}

Pty enter_app_root(const AppPlan& plan, const AppRootSources& sources, const RootOptions& options) {
    // The pod's copy is mounted on itself: the working directory, which unshare carries into
    // the new namespace, is the one place there that needs no path (the pod's root may not
    // search the pod directory).
    if (plan.pod_copy && ::fchdir(sources.tree.get()) != 0)
        throw system_error("cannot enter the app's tree");
    if (::unshare(CLONE_NEWNS) != 0) throw system_error("cannot create a mount namespace");
    // Mounts of the host still reach the app; the app's never reach the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
        throw system_error("cannot make the app's mounts private");
    UniqueFd root;
    if (plan.pod_copy) {
        if (::syscall(SYS_move_mount, sources.tree_mount.get(), "", AT_FDCWD, "",
                      MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
            throw system_error("cannot mount the app's tree " + plan.tree.string());
        root =
            UniqueFd(::openat(sources.tree_mount.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!root) throw system_error("cannot open the app's root");
    } else {
        for (const auto& dir : {plan.upper, plan.work, plan.root}) fs::make_dirs(dir);
        std::string overlay = "lowerdir=" + plan.tree.string() +
                              ",upperdir=" + plan.upper.string() + ",workdir=" + plan.work.string();
        do_mount("overlay", plan.root.string(), "overlay", MS_NODEV, overlay.c_str(),
                 "the overlay of the app's image on " + plan.root.string());
        root = fs::open_file(plan.root, O_RDONLY | O_DIRECTORY);
    }

    rootfs::Resolved proc = rootfs::resolve(root.get(), "/proc", rootfs::Create::kDirectory);
    do_mount("proc", fd_path(proc.fd.get()), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr,
             "/proc");
    rootfs::Resolved sys = rootfs::resolve(root.get(), "/sys", rootfs::Create::kDirectory);
    if (::mount("sysfs", fd_path(sys.fd.get()).c_str(), "sysfs",
                MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        // A user namespace may mount a sysfs only for a network namespace it owns: with the
        // host's network the host's /sys is bound, read-only.
        if (!(options.user_namespace && errno == EPERM)) throw system_error("cannot mount /sys");
        do_mount("/sys", fd_path(sys.fd.get()), nullptr, MS_BIND | MS_REC, nullptr, "/sys");
        make_read_only(root.get(), "/sys", true);
    }
    Pty console = setup_dev(root.get(), options.terminal, options.user_namespace);
    for (size_t i = 0; i < plan.mounts.size(); ++i)
        mount_volume(root.get(), plan.mounts[i], sources.mounts.at(i).get());
    // Where the app starts, inside its root (and its volumes) whatever symlinks the image holds.
    with_context("working directory " + plan.exec.working_directory, [&] {
        rootfs::resolve(root.get(), plan.exec.working_directory, rootfs::Create::kDirectory, 0755);
    });
    if (plan.read_only_rootfs) {
        mount_attr attr{};
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (::syscall(SYS_mount_setattr, root.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
            throw system_error("cannot make the app's root file system read-only");
    }

    // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only the app.
    if (::fchdir(root.get()) != 0) throw system_error("cannot enter the app's root");
    if (::syscall(SYS_pivot_root, ".", ".") != 0) throw system_error("cannot pivot_root");
    if (::umount2(".", MNT_DETACH) != 0) throw system_error("cannot detach the old root");
    if (::chdir("/") != 0) throw system_error("cannot change to /");
    return console;
}

std::string find_program(const std::string& name, const std::vector<std::string>& env) {
    if (name.find('/') != std::string::npos) return name;
    std::string path;
    for (const auto& e : env)
        if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
    for (const auto& dir : strings::split(path, ':')) {
        if (dir.empty()) continue;
        std::string candidate = dir;
        candidate += '/';
        candidate += name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
            return candidate;
    }
    throw Error("cannot find \"" + name + "\" in the app's PATH (" + path + ")");
}

}  // namespace rkt::nspawn
