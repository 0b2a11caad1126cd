#include "common/io.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <string>

#include "common/error.h"

namespace rkt::io {

bool try_write_all(int fd, std::string_view data) noexcept {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};
            if (retry_eintr([&] { return ::poll(&p, 1, -1); }) < 0) return false;
            if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
                errno = EPIPE;
                return false;
            }
            continue;
        }
        if (n == 0) errno = EIO;
        return false;
    }
    return true;
}

void write_all(int fd, std::string_view data, std::string_view what) {
    if (!try_write_all(fd, data)) throw system_error("cannot write " + std::string(what));
}

Pipe make_pipe() {
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_CLOEXEC) != 0) throw system_error("cannot create a pipe");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

ssize_t read_some(int fd, void* buffer, size_t size) noexcept {
    return retry_eintr([&] { return ::read(fd, buffer, size); });
}

}  // namespace rkt::io
