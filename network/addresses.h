// IP addresses and CIDR prefixes as CNI configs and results write them, checked strictly
// (inet_pton), for the parsers of hostile input in this folder.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rkt::net {

struct Cidr {
    int family = 0;       // AF_INET or AF_INET6
    std::string address;  // "172.16.28.5", as written
    int prefix = 0;       // 0..32 or 0..128
};

// Whether `s` is an IPv4 ("10.1.2.3") or IPv6 ("fd00::1") address.
bool is_ip_address(std::string_view s);
// "172.16.28.5/24", "fd00::5/64"; nullopt for anything else.
std::optional<Cidr> parse_cidr(std::string_view s);
// The dotted netmask of an IPv4 prefix ("255.255.255.0" for 24), or the IPv6 one in its form.
std::string netmask(int family, int prefix);

}  // namespace rkt::net
