#include "guest-init/netlink_socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "common/strings.h"

namespace rkt::guest_init {

namespace {

constexpr size_t align4(size_t n) {
    return (n + 3) & ~size_t{3};
}

nlmsghdr* header_of(std::string& buffer) {
    return reinterpret_cast<nlmsghdr*>(buffer.data());
}

// The NUL-terminated string of attribute `type` among the attributes in `attrs`, or "".
std::string string_attribute(std::string_view attrs, uint16_t type) {
    while (attrs.size() >= sizeof(nlattr)) {
        nlattr a;
        std::memcpy(&a, attrs.data(), sizeof a);
        if (a.nla_len < sizeof a || a.nla_len > attrs.size()) break;
        if ((a.nla_type & NLA_TYPE_MASK) == type) {
            std::string_view v = attrs.substr(sizeof a, a.nla_len - sizeof a);
            return std::string(v.substr(0, v.find('\0')));
        }
        attrs.remove_prefix(std::min(attrs.size(), align4(a.nla_len)));
    }
    return {};
}

}  // namespace

NetlinkMessage::NetlinkMessage(uint16_t type, uint16_t flags) {
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    append(&h, sizeof h);
}

void NetlinkMessage::append(const void* data, size_t size) {
    buffer_.append(static_cast<const char*>(data), size);
    buffer_.resize(align4(buffer_.size()), '\0');
    header_of(buffer_)->nlmsg_len = static_cast<uint32_t>(buffer_.size());
}

void NetlinkMessage::add_attribute(uint16_t type, const void* data, size_t size) {
    nlattr a{};
    a.nla_type = type;
    a.nla_len = static_cast<uint16_t>(sizeof a + size);
    // The attribute's length excludes its padding; append() pads after the header and the data.
    buffer_.append(reinterpret_cast<const char*>(&a), sizeof a);
    append(data, size);
}

void NetlinkMessage::add_string(uint16_t type, std::string_view value) {
    std::string s(value);
    add_attribute(type, s.c_str(), s.size() + 1);
}

void NetlinkMessage::make_request(uint32_t sequence) {
    nlmsghdr* h = header_of(buffer_);
    h->nlmsg_seq = sequence;
    h->nlmsg_flags = static_cast<uint16_t>(h->nlmsg_flags | NLM_F_REQUEST | NLM_F_ACK);
}

uint16_t NetlinkMessage::type() const {
    return reinterpret_cast<const nlmsghdr*>(buffer_.data())->nlmsg_type;
}

uint16_t NetlinkMessage::flags() const {
    return reinterpret_cast<const nlmsghdr*>(buffer_.data())->nlmsg_flags;
}

std::optional<NetlinkAck> parse_netlink_ack(std::string_view datagram, uint32_t sequence) {
    while (!datagram.empty()) {
        nlmsghdr h;
        if (datagram.size() < sizeof h) throw Error("truncated netlink message from the kernel");
        std::memcpy(&h, datagram.data(), sizeof h);
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > datagram.size())
            throw Error("netlink message from the kernel with a bad length");
        std::string_view body = datagram.substr(sizeof h, h.nlmsg_len - sizeof h);
        if (h.nlmsg_type == NLMSG_ERROR && h.nlmsg_seq == sequence) {
            nlmsgerr e;
            if (body.size() < sizeof e) throw Error("truncated netlink acknowledgement");
            std::memcpy(&e, body.data(), sizeof e);
            NetlinkAck ack{-e.error, ""};
            // The extended-ack attributes follow the echoed request (only its header with
            // NETLINK_CAP_ACK, or the whole request without it).
            if (h.nlmsg_flags & NLM_F_ACK_TLVS) {
                size_t echoed =
                    (h.nlmsg_flags & NLM_F_CAPPED) ? sizeof e : sizeof e.error + e.msg.nlmsg_len;
                if (echoed < body.size())
                    ack.message = string_attribute(body.substr(align4(echoed)), NLMSGERR_ATTR_MSG);
            }
            return ack;
        }
        datagram.remove_prefix(std::min(datagram.size(), align4(h.nlmsg_len)));
    }
    return std::nullopt;
}

NetlinkSocket::NetlinkSocket() : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
    if (!fd_) throw system_error("cannot open a netlink socket");
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    check_sys(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&local), sizeof local),
              "cannot bind a netlink socket");
    // The kernel's own words for a refusal ("Nexthop has invalid gateway") make a better error;
    // and a capped ack need not echo the request back. Both are optional.
    int one = 1;
    ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
}

bool NetlinkSocket::request(NetlinkMessage& message, const std::string& what, int tolerated) {
    NetlinkMessage& m = message;
    const uint32_t seq = ++sequence_;
    m.make_request(seq);

    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t sent = io::retry_eintr([&] {
        return ::sendto(fd_.get(), m.bytes().data(), m.bytes().size(), 0,
                        reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
    });
    if (sent < 0) throw system_error(what + ": cannot send the netlink request");
    if (static_cast<size_t>(sent) != m.bytes().size())
        throw Error(what + ": the netlink request was cut short");

    std::vector<char> buffer(size_t{64} * 1024);
    for (;;) {
        sockaddr_nl from{};
        socklen_t from_len = sizeof from;
        ssize_t n = io::retry_eintr([&] {
            return ::recvfrom(fd_.get(), buffer.data(), buffer.size(), 0,
                              reinterpret_cast<sockaddr*>(&from), &from_len);
        });
        if (n < 0) throw system_error(what + ": no netlink answer");
        if (from.nl_pid != 0) continue;  // only the kernel answers requests
        auto ack = parse_netlink_ack(std::string_view(buffer.data(), static_cast<size_t>(n)), seq);
        if (!ack) continue;
        if (ack->error == 0) return true;
        if (tolerated != 0 && ack->error == tolerated) return false;
        Error e = system_error(what, ack->error);
        if (ack->message.empty()) throw e;
        throw Error(std::string(e.what()) + " (" + strings::printable(ack->message) + ")",
                    kErrorExitCode, ack->error);
    }
}

}  // namespace rkt::guest_init
