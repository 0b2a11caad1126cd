// The guest protocol on a descriptor: reading frames and messages from the channel's fd, and
// numbering and writing them to it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/guest_protocol/framing.h"
#include "common/guest_protocol/message.h"

namespace rkt::guest {

// The name of the virtio-serial port that carries the protocol (guest: /sys/class/virtio-ports/
// */name). A VMM whose virtio-console has a single console port instead names it on the kernel
// command line with rkt.guest_port=/dev/hvc0.
inline constexpr std::string_view kPortName = "org.rkt.guest.0";

// A FrameParser (feed(), next(), buffered()) that also decodes messages and reads a descriptor.
class FrameReader : public FrameParser {
public:
    // next() and decode_message() together.
    std::optional<Message> next_message();
    // Reads what `fd` has (one read(2)) and feeds it. Returns false at end of file; returns true
    // without data on EAGAIN/EINTR. Throws rkt::Error on other read errors.
    bool read_from(int fd);
};

// Numbers frames from 1 and writes them.
class FrameWriter {
public:
    // The bytes of the next frame (assigns its sequence number).
    std::string encode(const Message& message);
    // Writes the whole frame to `fd`, waiting (poll) while a non-blocking fd is full.
    // Throws rkt::Error when the fd fails or the peer is gone.
    void write(int fd, const Message& message);

private:
    uint32_t next_sequence_ = 1;
};

}  // namespace rkt::guest
