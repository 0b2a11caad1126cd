#include "network/net_selection.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace rkt::net {
namespace {

std::string error_of(const std::vector<std::string>& values) {
    try {
        parse_net_selection(values);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(NetSelection, NothingOrEmptyIsDefault) {
    for (const auto& values : {std::vector<std::string>{}, std::vector<std::string>{""},
                               std::vector<std::string>{",", ""}}) {
        auto s = parse_net_selection(values);
        EXPECT_EQ(s.kind, NetSelection::Kind::kNetworks);
        ASSERT_EQ(s.networks.size(), 1u);
        EXPECT_EQ(s.networks[0], (NetRequest{"default", "", ""}));
    }
}

TEST(NetSelection, HostAndNone) {
    EXPECT_EQ(parse_net_selection({"host"}).kind, NetSelection::Kind::kHost);
    EXPECT_EQ(parse_net_selection({"none"}).kind, NetSelection::Kind::kNone);
    EXPECT_TRUE(parse_net_selection({"none"}).networks.empty());
}

TEST(NetSelection, RepeatedAndCommaSeparatedInOrder) {
    auto s = parse_net_selection({"default,mynet:IP=10.1.2.3;K=V", "other-net.1"});
    ASSERT_EQ(s.networks.size(), 3u);
    EXPECT_EQ(s.networks[0], (NetRequest{"default", "", ""}));
    EXPECT_EQ(s.networks[1], (NetRequest{"mynet", "IP=10.1.2.3;K=V", "10.1.2.3"}));
    EXPECT_EQ(s.networks[2], (NetRequest{"other-net.1", "", ""}));
}

TEST(NetSelection, Ipv6Address) {
    auto s = parse_net_selection({"v6:IP=fd00::5"});
    EXPECT_EQ(s.networks.at(0).ip, "fd00::5");
}

TEST(NetSelection, HostOrNoneWithOthersIsAnError) {
    EXPECT_EQ(error_of({"host", "default"}), "--net=host cannot be combined with other networks");
    EXPECT_EQ(error_of({"default,none"}), "--net=none cannot be combined with other networks");
    EXPECT_EQ(error_of({"host,none"}), "--net=host cannot be combined with other networks");
    EXPECT_NE(error_of({"host:IP=1.2.3.4"}), "");
}

TEST(NetSelection, Errors) {
    EXPECT_NE(error_of({"default,default"}).find("given twice"), std::string::npos);
    EXPECT_NE(error_of({"a b"}).find("not a valid network name"), std::string::npos);
    EXPECT_NE(error_of({"../x"}).find("not a valid network name"), std::string::npos);
    EXPECT_NE(error_of({"-x"}).find("not a valid network name"), std::string::npos);
    EXPECT_NE(error_of({":IP=1.2.3.4"}).find("not a valid network name"), std::string::npos);
    EXPECT_NE(error_of({"n:"}).find("empty argument"), std::string::npos);
    EXPECT_NE(error_of({"n:IP"}).find("malformed argument"), std::string::npos);
    EXPECT_NE(error_of({"n:=x"}).find("malformed argument"), std::string::npos);
    EXPECT_NE(error_of({"n:IP=1.2.3"}).find("is not an IPv4 or IPv6 address"), std::string::npos);
    EXPECT_NE(error_of({"n:IP=1.2.3.4/24"}).find("is not an IPv4"), std::string::npos);
    EXPECT_NE(error_of({"n:IP=1.2.3.4;IP=1.2.3.5"}).find("given twice"), std::string::npos);
    EXPECT_NE(error_of({std::string("n:K=a\x01")}).find("control character"), std::string::npos);
}

TEST(NetSelection, NetworkNames) {
    EXPECT_TRUE(is_valid_network_name("default-restricted"));
    EXPECT_TRUE(is_valid_network_name("a_b.c"));
    EXPECT_FALSE(is_valid_network_name(""));
    EXPECT_FALSE(is_valid_network_name("."));
    EXPECT_FALSE(is_valid_network_name("a/b"));
    EXPECT_FALSE(is_valid_network_name(std::string(129, 'a')));
}

}  // namespace
}  // namespace rkt::net
