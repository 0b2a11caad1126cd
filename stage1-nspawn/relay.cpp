#include "stage1-nspawn/relay.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string_view>

#include "common/io.h"

namespace rkt::nspawn {
namespace {

constexpr size_t kChunk = 65536;

void make_non_blocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

Outbound::Outbound(int from, int to, CappedLog* log) : from_(from), to_(to), log_(log) {
    make_non_blocking(from_);
}

bool Outbound::copy_available() {
    if (from_ < 0) return false;
    std::array<char, kChunk> buf{};
    ssize_t n = io::read_some(from_, buf.data(), buf.size());
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (n <= 0) {  // end of file, or EIO from a pty master whose slaves are all closed
        from_ = -1;
        return false;
    }
    std::string_view data(buf.data(), static_cast<size_t>(n));
    if (!host_gone_ && !io::try_write_all(to_, data) && errno == EPIPE) host_gone_ = true;
    if (log_) log_->write(data);
    return true;
}

void Outbound::drain() {
    // Bounded: a writer that outlived the process it came with (a background process of an
    // entered command) must not keep the stage1 here. A pipe or a pty holds far less.
    for (int chunks = 0; chunks < 64 && copy_available(); ++chunks) {
    }
}

Inbound::Inbound(int from, UniqueFd to) : from_(from), to_(to.get()), owned_to_(std::move(to)) {
    make_non_blocking(to_);
}

Inbound::Inbound(int from, int to) : from_(from), to_(to) {
    make_non_blocking(to_);
}

pollfd Inbound::poll_entry() const {
    if (!pending_.empty()) return {to_, POLLOUT, 0};
    return {from_, POLLIN, 0};
}

void Inbound::ready(short revents) {
    if (!pending_.empty()) {
        if (revents & (POLLERR | POLLHUP | POLLNVAL)) return close();
        ssize_t n = io::retry_eintr([&] { return ::write(to_, pending_.data(), pending_.size()); });
        if (n > 0) pending_.erase(0, static_cast<size_t>(n));
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return close();
        if (pending_.empty() && from_ < 0) end_of_input();
        return;
    }
    std::array<char, kChunk> buf{};
    ssize_t n = io::read_some(from_, buf.data(), buf.size());
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
        from_ = -1;
        end_of_input();
        return;
    }
    pending_.assign(buf.data(), static_cast<size_t>(n));
    ready(POLLOUT);  // most of the time the pod side has room at once
}

void Inbound::end_of_input() {
    from_ = -1;
    if (pending_.empty()) owned_to_.reset();
}

void Inbound::close() {
    from_ = -1;
    pending_.clear();
    owned_to_.reset();
    to_ = -1;
}

}  // namespace rkt::nspawn
