#include "network/addresses.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstdint>

#include "common/strings.h"

namespace rkt::net {

namespace {

int address_family(const std::string& s) {
    std::array<unsigned char, sizeof(in6_addr)> buf{};
    if (::inet_pton(AF_INET, s.c_str(), buf.data()) == 1) return AF_INET;
    if (::inet_pton(AF_INET6, s.c_str(), buf.data()) == 1) return AF_INET6;
    return 0;
}

}  // namespace

bool is_ip_address(std::string_view s) {
    if (s.empty() || s.size() > INET6_ADDRSTRLEN) return false;
    return address_family(std::string(s)) != 0;
}

std::optional<Cidr> parse_cidr(std::string_view s) {
    auto slash = s.find('/');
    if (slash == std::string_view::npos || s.size() > INET6_ADDRSTRLEN + 4) return std::nullopt;
    std::string address(s.substr(0, slash));
    std::string_view prefix = s.substr(slash + 1);
    if (prefix.empty() || prefix.size() > 3 || !strings::is_decimal(prefix)) return std::nullopt;
    int family = address_family(address);
    if (family == 0) return std::nullopt;
    int bits = std::stoi(std::string(prefix));
    if (bits > (family == AF_INET ? 32 : 128)) return std::nullopt;
    return Cidr{family, address, bits};
}

std::string netmask(int family, int prefix) {
    std::array<unsigned char, sizeof(in6_addr)> bytes{};
    size_t length = family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < length; ++i) {
        int bits = prefix - static_cast<int>(i) * 8;
        if (bits >= 8)
            bytes[i] = 0xff;
        else if (bits > 0)
            bytes[i] = static_cast<unsigned char>(0xff << (8 - bits));
    }
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (!::inet_ntop(family, bytes.data(), text.data(), text.size())) return "";
    return text.data();
}

}  // namespace rkt::net
