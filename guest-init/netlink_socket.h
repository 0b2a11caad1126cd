// rtnetlink requests: a message builder (header, family header, attributes) and a socket that
// sends one request at a time and waits for its acknowledgement. Hand-written because Debian
// ships no static libmnl, and guest-init needs only a few requests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace rkt::guest_init {

// One netlink message: nlmsghdr, the family header, then attributes, each padded to 4 bytes.
class NetlinkMessage {
public:
    NetlinkMessage(uint16_t type, uint16_t flags);

    // The family header (ifinfomsg, ifaddrmsg, rtmsg): once, before any attribute.
    template <typename T>
    void put_header(const T& header) {
        append(&header, sizeof header);
    }
    void add_attribute(uint16_t type, const void* data, size_t size);
    void add_u32(uint16_t type, uint32_t value) { add_attribute(type, &value, sizeof value); }
    // With its terminating NUL, as the kernel expects of IFLA_IFNAME.
    void add_string(uint16_t type, std::string_view value);

    // Marks the message a request that wants an acknowledgement, numbered `sequence`.
    void make_request(uint32_t sequence);
    uint16_t type() const;
    uint16_t flags() const;
    // The whole message, its length field up to date.
    std::string_view bytes() const { return buffer_; }

private:
    void append(const void* data, size_t size);
    std::string buffer_;
};

// What the kernel answered to request `sequence`: errno 0 for success, else a positive errno and
// the kernel's extended-ack text when it gave one.
struct NetlinkAck {
    int error = 0;
    std::string message;
    bool operator==(const NetlinkAck&) const = default;
};

// Finds the acknowledgement of `sequence` in one datagram from the kernel; nullopt when the
// datagram holds none (it may be something else). Throws rkt::Error when it is malformed.
std::optional<NetlinkAck> parse_netlink_ack(std::string_view datagram, uint32_t sequence);

class NetlinkSocket {
public:
    // A NETLINK_ROUTE socket, close-on-exec, bound to the kernel.
    NetlinkSocket();

    // Sends `message` (with NLM_F_REQUEST | NLM_F_ACK and the next sequence number) and waits
    // for its acknowledgement. A failure throws rkt::Error "<what>: <strerror> (<kernel text>)",
    // except the errno `tolerated` (when not 0): then it returns false.
    bool request(NetlinkMessage& message, const std::string& what, int tolerated = 0);

private:
    UniqueFd fd_;
    uint32_t sequence_ = 0;
};

}  // namespace rkt::guest_init
