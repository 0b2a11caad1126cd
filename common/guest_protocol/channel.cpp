#include "common/guest_protocol/channel.h"

#include <cerrno>

#include "common/error.h"
#include "common/io.h"

namespace rkt::guest {

std::optional<Message> FrameReader::next_message() {
    auto frame = next();
    if (!frame) return std::nullopt;
    return decode_message(*frame);
}

bool FrameReader::read_from(int fd) {
    char buf[16384];
    ssize_t n = io::read_some(fd, buf, sizeof buf);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        throw system_error("guest protocol: cannot read from the channel");
    }
    if (n == 0) return false;
    feed(std::string_view(buf, static_cast<size_t>(n)));
    return true;
}

std::string FrameWriter::encode(const Message& message) {
    Frame frame = to_frame(message);
    frame.sequence = next_sequence_;
    std::string bytes = serialize_frame(frame);
    ++next_sequence_;
    return bytes;
}

void FrameWriter::write(int fd, const Message& message) {
    // A virtio port reports POLLHUP (without POLLOUT) while the host is not connected: write_all
    // then fails with EPIPE, the peer is gone.
    io::write_all(fd, encode(message), "to the guest protocol channel");
}

}  // namespace rkt::guest
