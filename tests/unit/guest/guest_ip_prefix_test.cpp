#include "common/guest_protocol/ip_prefix.h"

#include <gtest/gtest.h>

namespace rkt::guest {
namespace {

IpPrefix prefix(const char* s) {
    auto p = parse_ip_prefix(s);
    EXPECT_TRUE(p.has_value()) << s;
    return p.value_or(IpPrefix{});
}

TEST(IpPrefix, ParsesBothFamilies) {
    IpPrefix v4 = prefix("172.16.28.5/24");
    EXPECT_EQ(v4.address.family, IpFamily::kV4);
    EXPECT_EQ(v4.length, 24u);
    EXPECT_EQ(v4.address.bytes[0], 172);
    EXPECT_EQ(v4.address.bytes[3], 5);
    EXPECT_EQ(v4.address.size(), 4u);
    IpPrefix v6 = prefix("fd00:28::5/64");
    EXPECT_EQ(v6.address.family, IpFamily::kV6);
    EXPECT_EQ(v6.address.size(), 16u);
    EXPECT_EQ(v6.address.bytes[0], 0xfd);
    EXPECT_EQ(v6.address.bytes[15], 5);
    EXPECT_EQ(prefix("0.0.0.0/0").length, 0u);
    EXPECT_EQ(prefix("::/0").length, 0u);
    EXPECT_EQ(prefix("10.0.0.1/32").length, 32u);
    EXPECT_EQ(prefix("::1/128").length, 128u);
    EXPECT_EQ(prefix("::ffff:10.0.0.1/128").address.family, IpFamily::kV6);
}

TEST(IpPrefix, RefusesWhatIsNotOne) {
    for (const char* bad :
         {"", "/", "10.0.0.1", "10.0.0.1/", "10.0.0.1/33", "::/129", "10.0.0.1/08", "10.0.0.1/-1",
          "10.0.0.1/1000", "10.0.0/8", "10.0.0.256/8", "01.0.0.1/8", "10.0.0.1 /8", "x/8",
          "10.0.0.1/8/8", "fd00:::1/64", "fd00::1%eth0/64", "1.2.3.4.5/8"})
        EXPECT_FALSE(parse_ip_prefix(bad).has_value()) << bad;
    EXPECT_FALSE(parse_ip_prefix(std::string("10.0.0.1\0/8", 11)).has_value());
    EXPECT_FALSE(parse_ip_address("10.0.0.1/8").has_value());
    EXPECT_FALSE(parse_ip_address(std::string("10.0.0.1\0x", 10)).has_value());
    EXPECT_TRUE(parse_ip_address("fe80::1").has_value());
}

TEST(IpPrefix, NetworkAndContainment) {
    EXPECT_EQ(format_ip_prefix(network_of(prefix("172.16.28.5/24"))), "172.16.28.0/24");
    EXPECT_EQ(format_ip_prefix(network_of(prefix("172.16.28.255/28"))), "172.16.28.240/28");
    EXPECT_EQ(format_ip_prefix(network_of(prefix("10.1.2.3/0"))), "0.0.0.0/0");
    EXPECT_EQ(format_ip_prefix(network_of(prefix("fd00:28::5/64"))), "fd00:28::/64");
    EXPECT_EQ(format_ip_prefix(network_of(prefix("fd00:28:ffff::5/33"))), "fd00:28:8000::/33");
    EXPECT_TRUE(prefix_contains(prefix("172.16.28.5/24"), *parse_ip_address("172.16.28.1")));
    EXPECT_FALSE(prefix_contains(prefix("172.16.28.5/24"), *parse_ip_address("172.16.29.1")));
    EXPECT_FALSE(prefix_contains(prefix("172.16.28.5/32"), *parse_ip_address("172.16.28.1")));
    EXPECT_TRUE(prefix_contains(prefix("0.0.0.0/0"), *parse_ip_address("8.8.8.8")));
    EXPECT_FALSE(prefix_contains(prefix("::/0"), *parse_ip_address("8.8.8.8")));  // family
    EXPECT_TRUE(prefix_contains(prefix("fd00:28::5/64"), *parse_ip_address("fd00:28::1")));
    EXPECT_FALSE(prefix_contains(prefix("fd00:28::5/64"), *parse_ip_address("fd00:29::1")));
    EXPECT_EQ(format_ip_address(*parse_ip_address("fd00:0:0::1")), "fd00::1");
}

}  // namespace
}  // namespace rkt::guest
