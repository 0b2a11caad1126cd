#include "stage1-kvm/control_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"

namespace rkt::kvm {

namespace {

sockaddr_un address() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, kControlSocketName, sizeof addr.sun_path - 1);
    return addr;
}

}  // namespace

UniqueFd listen_control_socket() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw system_error("cannot create the control socket");
    sockaddr_un addr = address();
    ::unlink(kControlSocketName);  // left by a run that was killed; we hold the pod lock now
    mode_t old = ::umask(0077);
    int r = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (r != 0)
        throw system_error(std::string("cannot bind the control socket ") + kControlSocketName);
    if (::listen(fd.get(), 16) != 0) throw system_error("cannot listen on the control socket");
    return fd;
}

UniqueFd connect_control_socket() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw system_error("cannot create a socket");
    sockaddr_un addr = address();
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
    return fd;
}

bool peer_is_trusted(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    return cred.uid == 0 || cred.uid == ::geteuid();
}

}  // namespace rkt::kvm
