#include "guest-init/early_boot.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace rkt::guest_init {

namespace {

constexpr const char* kRerootedMarker = "RKT_GUEST_INIT_REROOTED";

void mount_or_throw(const char* source, const char* target, const char* type, unsigned long flags,
                    const char* data) {
    ::mkdir(target, 0755);
    if (::mount(source, target, type, flags, data) < 0)
        throw system_error(std::string("cannot mount ") + type + " on " + target);
}

void copy_file(const char* from, const char* to, mode_t mode) {
    UniqueFd in(::open(from, O_RDONLY | O_CLOEXEC));
    if (!in) throw system_error(std::string("cannot open ") + from);
    UniqueFd out(::open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!out) throw system_error(std::string("cannot create ") + to);
    char buf[65536];
    for (;;) {
        ssize_t n = io::read_some(in.get(), buf, sizeof buf);
        if (n < 0) throw system_error(std::string("cannot read ") + from);
        if (n == 0) break;
        io::write_all(out.get(), std::string_view(buf, static_cast<size_t>(n)), to);
    }
}

}  // namespace

void leave_initramfs(char** argv) {
    if (::getenv(kRerootedMarker)) {
        ::unsetenv(kRerootedMarker);
        return;
    }
    const char* self = (argv[0] && argv[0][0] == '/') ? argv[0] : "/init";
    mount_or_throw("root", "/.root", "tmpfs", MS_NOSUID, "mode=0755");
    copy_file(self, "/.root/init", 0755);
    // Nothing else of the initramfs is needed; dropping the binary frees its memory.
    ::unlink(self);
    check_sys(::chdir("/.root"), "chdir /.root");
    check_sys(::mount(".", "/", nullptr, MS_MOVE, nullptr), "cannot move the new root over /");
    check_sys(::chroot("."), "chroot into the new root");
    check_sys(::chdir("/"), "chdir /");
    ::setenv(kRerootedMarker, "1", 1);
    char* const args[] = {const_cast<char*>("/init"), nullptr};
    ::execv("/init", args);
    throw system_error("cannot re-execute /init in the new root");
}

void mount_kernel_filesystems() {
    constexpr unsigned long kSafe = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    mount_or_throw("proc", "/proc", "proc", kSafe, nullptr);
    mount_or_throw("sysfs", "/sys", "sysfs", kSafe, nullptr);
    mount_or_throw("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount_or_throw("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                   "mode=0620,ptmxmode=0666");
    mount_or_throw("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_or_throw("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    mount_or_throw("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_or_throw("cgroup2", "/sys/fs/cgroup", "cgroup2", kSafe, nullptr);
    ::mkdir("/opt", 0755);
    ::mkdir("/opt/stage2", 0755);
}

void attach_console() {
    int fd = ::open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0) return;  // nothing to print to; the host still gets Log frames
    for (int target = 0; target <= 2; ++target) ::dup2(fd, target);
    if (fd > 2) ::close(fd);
}

void bring_up_loopback() {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) throw system_error("cannot open a socket to configure lo");
    ifreq req{};
    std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    check_sys(::ioctl(sock.get(), SIOCGIFFLAGS, &req), "cannot read the flags of lo");
    // The kernel gives lo 127.0.0.1 and ::1 itself when it comes up.
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP | IFF_RUNNING);
    check_sys(::ioctl(sock.get(), SIOCSIFFLAGS, &req), "cannot bring lo up");
}

std::map<std::string, std::string> rkt_kernel_parameters(const std::string& cmdline) {
    std::map<std::string, std::string> out;
    for (const auto& word : strings::split(strings::trim(cmdline), ' ')) {
        if (word.rfind("rkt.", 0) != 0) continue;
        auto eq = word.find('=');
        if (eq == std::string::npos)
            out[word] = "";
        else
            out[word.substr(0, eq)] = word.substr(eq + 1);
    }
    return out;
}

}  // namespace rkt::guest_init
