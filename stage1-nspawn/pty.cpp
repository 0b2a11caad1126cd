#include "stage1-nspawn/pty.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "common/io.h"

namespace rkt::nspawn {

Pty open_pty(int dev_pts_dir) {
    // Non-blocking: whatever is there, opening it cannot hang, and the copy loop wants it so.
    UniqueFd master(
        ::openat(dev_pts_dir, "ptmx", O_RDWR | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!master) throw system_error("cannot open the pod's /dev/pts/ptmx");
    struct stat st {};
    struct statfs sfs {};
    if (::fstat(master.get(), &st) != 0 || ::fstatfs(master.get(), &sfs) != 0)
        throw system_error("cannot check the pod's /dev/pts/ptmx");
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2 ||
        sfs.f_type != DEVPTS_SUPER_MAGIC)
        throw Error("the pod's /dev/pts/ptmx is not the ptmx of its devpts");
    int unlock = 0;
    if (::ioctl(master.get(), TIOCSPTLCK, &unlock) != 0)
        throw system_error("cannot unlock a pseudo terminal");
    UniqueFd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) throw system_error("cannot open a pseudo terminal");
    return {std::move(master), std::move(slave)};
}

bool attach_terminal(int slave) noexcept {
    if (::setsid() < 0 && ::getsid(0) != ::getpid()) return false;
    if (::ioctl(slave, TIOCSCTTY, 0) != 0) return false;
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO})
        if (::dup2(slave, fd) < 0) return false;
    return true;
}

RawTerminal::RawTerminal(int fd) {
    if (!::isatty(fd) || ::tcgetattr(fd, &original_) != 0) return;
    termios raw = original_;
    ::cfmakeraw(&raw);
    if (::tcsetattr(fd, TCSANOW, &raw) != 0) return;
    fd_ = fd;
    saved_ = true;
}

RawTerminal::~RawTerminal() {
    // TCSADRAIN: what the app printed last reaches the terminal under the modes it was meant for.
    if (saved_) ::tcsetattr(fd_, TCSADRAIN, &original_);
}

void copy_window_size(int from, int to) noexcept {
    winsize size{};
    if (::ioctl(from, TIOCGWINSZ, &size) == 0) ::ioctl(to, TIOCSWINSZ, &size);
}

namespace {

// One byte and room for one descriptor: what both ends of a hand-over send and receive.
struct FdMessage {
    char byte = 'T';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    FdMessage() {
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
    }
    FdMessage(const FdMessage&) = delete;  // it points into itself
    FdMessage& operator=(const FdMessage&) = delete;
};

}  // namespace

void send_fd(int socket, int fd) {
    FdMessage m;
    msghdr& msg = m.msg;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (io::retry_eintr([&] { return ::sendmsg(socket, &msg, MSG_NOSIGNAL); }) != 1)
        throw system_error("cannot hand the terminal over");
}

UniqueFd receive_fd(int socket) {
    FdMessage m;
    msghdr& msg = m.msg;
    ssize_t n = io::retry_eintr([&] { return ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC); });
    if (n < 0) throw system_error("cannot receive the app's terminal");
    if (n == 0) return UniqueFd();
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
        return UniqueFd(fd);
    }
    throw Error("the app's process sent no terminal");
}

}  // namespace rkt::nspawn
