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

void make_device(int dev_fd, const char* name, unsigned major, unsigned minor) {
    if (::mknodat(dev_fd, name, S_IFCHR | 0666, makedev(major, minor)) != 0)
        throw system_error(std::string("cannot create /dev/") + name);
    if (::fchmodat(dev_fd, name, 0666, 0) != 0)
        throw system_error(std::string("cannot set the mode of /dev/") + name);
}

void make_symlink(int dev_fd, const char* target, const char* name) {
    if (::symlinkat(target, dev_fd, name) != 0)
        throw system_error(std::string("cannot create /dev/") + name);
}

void setup_dev(int root_fd, bool interactive) {
    rootfs::Resolved dev = rootfs::resolve(root_fd, "/dev", rootfs::Create::kDirectory);
    do_mount("tmpfs", fd_path(dev.fd.get()), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k",
             "/dev");
    UniqueFd dev_fd = rootfs::open(root_fd, "/dev", O_RDONLY | O_DIRECTORY);
    make_device(dev_fd.get(), "null", 1, 3);
    make_device(dev_fd.get(), "zero", 1, 5);
    make_device(dev_fd.get(), "full", 1, 7);
    make_device(dev_fd.get(), "random", 1, 8);
    make_device(dev_fd.get(), "urandom", 1, 9);
    make_device(dev_fd.get(), "tty", 5, 0);
    for (const char* dir : {"pts", "shm"})
        if (::mkdirat(dev_fd.get(), dir, 0755) != 0)
            throw system_error(std::string("cannot create /dev/") + dir);
    UniqueFd pts(::openat(dev_fd.get(), "pts", O_PATH | O_DIRECTORY | O_CLOEXEC));
    do_mount("devpts", fd_path(pts.get()), "devpts", MS_NOSUID | MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5", "/dev/pts");
    UniqueFd shm(::openat(dev_fd.get(), "shm", O_PATH | O_DIRECTORY | O_CLOEXEC));
    do_mount("tmpfs", fd_path(shm.get()), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
             "mode=1777,size=65536k", "/dev/shm");
    make_symlink(dev_fd.get(), "pts/ptmx", "ptmx");
    make_symlink(dev_fd.get(), "/proc/self/fd", "fd");
    make_symlink(dev_fd.get(), "/proc/self/fd/0", "stdin");
    make_symlink(dev_fd.get(), "/proc/self/fd/1", "stdout");
    make_symlink(dev_fd.get(), "/proc/self/fd/2", "stderr");
    // An interactive app gets the terminal it was started on as its console.
    if (interactive && ::isatty(STDIN_FILENO)) {
        std::error_code ec;
        stdfs::path tty = stdfs::read_symlink("/proc/self/fd/0", ec);
        if (!ec) {
            int fd = ::openat(dev_fd.get(), "console", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (fd < 0) throw system_error("cannot create /dev/console");
            ::close(fd);
            UniqueFd console(::openat(dev_fd.get(), "console", O_PATH | O_CLOEXEC));
            do_mount(tty.c_str(), fd_path(console.get()), nullptr, MS_BIND, nullptr,
                     "the terminal on /dev/console");
        }
    }
}

void mount_volume(int root_fd, const MountPlan& m) {
    rootfs::Resolved target = with_context("mount target " + m.target, [&] {
        return rootfs::resolve(root_fd, m.target,
                               m.directory ? rootfs::Create::kDirectory : rootfs::Create::kFile);
    });
    struct stat st {};
    if (::fstat(target.fd.get(), &st) != 0) throw system_error("cannot stat " + m.target);
    if (m.directory != S_ISDIR(st.st_mode))
        throw Error("cannot mount " + m.source.string() + " on " + m.target + ": one is a " +
                    "directory and the other is not");
    do_mount(m.source.c_str(), fd_path(target.fd.get()), nullptr,
             MS_BIND | (m.recursive ? MS_REC : 0), nullptr, m.source.string() + " on " + m.target);
    if (m.read_only) make_read_only(root_fd, m.target, m.recursive);
}

}  // namespace

void enter_app_root(const AppPlan& plan, bool interactive) {
    for (const auto& dir : {plan.upper, plan.work, plan.root}) fs::make_dirs(dir);
    std::string options = "lowerdir=" + plan.tree.string() + ",upperdir=" + plan.upper.string() +
                          ",workdir=" + plan.work.string();
    do_mount("overlay", plan.root.string(), "overlay", 0, options.c_str(),
             "the overlay of the app's image on " + plan.root.string());
    UniqueFd root = fs::open_file(plan.root, O_RDONLY | O_DIRECTORY);

    rootfs::Resolved proc = rootfs::resolve(root.get(), "/proc", rootfs::Create::kDirectory);
    do_mount("proc", fd_path(proc.fd.get()), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr,
             "/proc");
    rootfs::Resolved sys = rootfs::resolve(root.get(), "/sys", rootfs::Create::kDirectory);
    do_mount("sysfs", fd_path(sys.fd.get()), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
             nullptr, "/sys");
    setup_dev(root.get(), interactive);
    for (const auto& m : plan.mounts) mount_volume(root.get(), m);
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
}

std::string find_program(const std::string& name, const std::vector<std::string>& env) {
    if (name.find('/') != std::string::npos) return name;
    std::string path;
    for (const auto& e : env)
        if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
    for (const auto& dir : strings::split(path, ':')) {
        if (dir.empty()) continue;
        std::string candidate = dir + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
            return candidate;
    }
    throw Error("cannot find \"" + name + "\" in the app's PATH (" + path + ")");
}

}  // namespace rkt::nspawn
