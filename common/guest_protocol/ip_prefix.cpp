#include "common/guest_protocol/ip_prefix.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace rkt::guest {

namespace {

// Longer than any textual IPv6 address with an IPv4 tail ("ffff:...:255.255.255.255", 45).
constexpr size_t kMaxAddressText = 45;

}  // namespace

std::optional<IpAddress> parse_ip_address(std::string_view s) {
    // inet_pton reads a C string: a NUL inside would silently cut the text short.
    if (s.empty() || s.size() > kMaxAddressText || s.find('\0') != std::string_view::npos)
        return std::nullopt;
    const std::string text(s);
    IpAddress a;
    if (text.find(':') == std::string::npos) {
        a.family = IpFamily::kV4;
        if (::inet_pton(AF_INET, text.c_str(), a.bytes.data()) != 1) return std::nullopt;
    } else {
        a.family = IpFamily::kV6;
        if (::inet_pton(AF_INET6, text.c_str(), a.bytes.data()) != 1) return std::nullopt;
    }
    return a;
}

std::optional<IpPrefix> parse_ip_prefix(std::string_view s) {
    size_t slash = s.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto address = parse_ip_address(s.substr(0, slash));
    if (!address) return std::nullopt;
    std::string_view len = s.substr(slash + 1);
    if (len.empty() || len.size() > 3 || (len.size() > 1 && len.front() == '0'))
        return std::nullopt;
    unsigned n = 0;
    for (char c : len) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n > address->max_prefix_length()) return std::nullopt;
    return IpPrefix{*address, n};
}

IpPrefix network_of(const IpPrefix& prefix) {
    IpPrefix out = prefix;
    for (size_t i = 0; i < out.address.bytes.size(); ++i) {
        size_t bit = i * 8;
        if (bit >= prefix.length) {
            out.address.bytes[i] = 0;
        } else if (prefix.length - bit < 8) {
            out.address.bytes[i] &= static_cast<uint8_t>(0xff << (8 - (prefix.length - bit)));
        }
    }
    return out;
}

bool prefix_contains(const IpPrefix& prefix, const IpAddress& address) {
    if (prefix.address.family != address.family) return false;
    return network_of(prefix) == network_of(IpPrefix{address, prefix.length});
}

std::string format_ip_address(const IpAddress& address) {
    char buf[INET6_ADDRSTRLEN] = {};
    int af = address.family == IpFamily::kV4 ? AF_INET : AF_INET6;
    if (!::inet_ntop(af, address.bytes.data(), buf, sizeof buf)) return "?";
    return buf;
}

std::string format_ip_prefix(const IpPrefix& prefix) {
    return format_ip_address(prefix.address) + "/" + std::to_string(prefix.length);
}

}  // namespace rkt::guest
