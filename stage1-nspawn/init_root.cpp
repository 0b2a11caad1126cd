#include "stage1-nspawn/init_root.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/unique_fd.h"

namespace rkt::nspawn {

void enter_empty_root() {
    if (::unshare(CLONE_NEWNS) != 0)
        throw system_error("cannot give the pod init a mount namespace");
    // Every mount of the copy, not only the root: detaching the old root below unmounts each of
    // them, and an unmount of a mount still shared with the host's (a systemd host's, or
    // /run/netns with the pods' network namespaces) would propagate there.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        throw system_error("cannot make the pod init's root mount private");
    UniqueFd fs(static_cast<int>(::syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC)));
    if (!fs) throw system_error("cannot make the pod init's root (tmpfs)");
    if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, "mode", "0555", 0) != 0 ||
        ::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, "size", "4k", 0) != 0 ||
        ::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        throw system_error("cannot make the pod init's root (tmpfs)");
    UniqueFd root(static_cast<int>(
        ::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC,
                  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC)));
    if (!root) throw system_error("cannot mount the pod init's root");
    if (::syscall(SYS_move_mount, root.get(), "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) != 0)
        throw system_error("cannot mount the pod init's root");
    // As for an app's root: pivot_root(".", ".") stacks the old root on the new one; detaching
    // it leaves only the empty tmpfs.
    if (::fchdir(root.get()) != 0) throw system_error("cannot enter the pod init's root");
    if (::syscall(SYS_pivot_root, ".", ".") != 0)
        throw system_error("cannot pivot_root into the pod init's root");
    if (::umount2(".", MNT_DETACH) != 0) throw system_error("cannot detach the host's root");
    if (::chdir("/") != 0) throw system_error("cannot change to /");
}

}  // namespace rkt::nspawn
