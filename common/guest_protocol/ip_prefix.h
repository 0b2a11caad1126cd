// IP addresses and CIDR prefixes as the pod spec's interfaces carry them ("172.16.28.5/24",
// "fd00::1/64"): parsed strictly, since they come from the host (and, before it, CNI plugins).
// The validation of the pod spec and guest-init's netlink code read them with the same parser.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rkt::guest {

enum class IpFamily { kV4, kV6 };

struct IpAddress {
    IpFamily family = IpFamily::kV4;
    std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4
    size_t size() const { return family == IpFamily::kV4 ? 4 : 16; }
    unsigned max_prefix_length() const { return family == IpFamily::kV4 ? 32 : 128; }
    bool operator==(const IpAddress&) const = default;
};

struct IpPrefix {
    IpAddress address;  // as written: host bits may be set ("172.16.28.5/24")
    unsigned length = 0;
    bool operator==(const IpPrefix&) const = default;
};

// A plain address ("10.0.0.1", "fe80::1"); nullopt when it is not one (no prefix length allowed).
std::optional<IpAddress> parse_ip_address(std::string_view s);
// "address/length", the length decimal without leading zeros and at most 32 (IPv4) or 128.
std::optional<IpPrefix> parse_ip_prefix(std::string_view s);

// The prefix with its host bits cleared: the network a route or an address's subnet covers.
IpPrefix network_of(const IpPrefix& prefix);
// Whether `address` lies inside `prefix` (same family, same leading `length` bits).
bool prefix_contains(const IpPrefix& prefix, const IpAddress& address);

std::string format_ip_address(const IpAddress& address);
std::string format_ip_prefix(const IpPrefix& prefix);

}  // namespace rkt::guest
