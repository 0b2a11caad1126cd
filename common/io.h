// Descriptor I/O that every part needs: whole writes, reads that survive EINTR. One copy, so the
// retry and short-write rules are the same everywhere.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <string_view>
#include <utility>

#include "common/unique_fd.h"

namespace rkt::io {

// Calls `f` again while it fails with EINTR; returns its last result (errno kept).
template <typename F>
auto retry_eintr(F&& f) {
    for (;;) {
        auto result = f();
        if (!(result < 0 && errno == EINTR)) return result;
    }
}

// Writes all of `data`, waiting (poll) while a non-blocking `fd` is full. Throws rkt::Error
// naming `what` on failure, or when the peer is gone.
void write_all(int fd, std::string_view data, std::string_view what);
// The same, for paths that must not throw (a supervisor's log copy, a child before execve):
// false on failure, with errno set.
bool try_write_all(int fd, std::string_view data) noexcept;
// A pipe whose ends are close-on-exec and owned from the moment they exist.
struct Pipe {
    UniqueFd read, write;
    // For std::tie(r, w) = make_pipe().ends().
    std::pair<UniqueFd, UniqueFd> ends() && { return {std::move(read), std::move(write)}; }
};
Pipe make_pipe();

// One read(2), retried on EINTR: the byte count, 0 at end of file, -1 with errno (EAGAIN too).
ssize_t read_some(int fd, void* buffer, size_t size) noexcept;

}  // namespace rkt::io
