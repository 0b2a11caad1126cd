#include "network/cni_result.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace rkt::net {
namespace {

using nlohmann::json;

std::string error_of(const json& j) {
    try {
        parse_cni_result(j);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(CniResult, Version100) {
    auto j = json::parse(R"({"cniVersion":"1.0.0",
        "interfaces":[{"name":"veth1","mac":"aa:bb:cc:dd:ee:ff"},
                      {"name":"eth0","mac":"02:42:ac:11:00:02","sandbox":"/run/netns/x"}],
        "ips":[{"address":"172.16.28.5/24","gateway":"172.16.28.1","interface":1},
               {"address":"fd00::5/64"}],
        "routes":[{"dst":"0.0.0.0/0"},{"dst":"10.0.0.0/8","gw":"172.16.28.1"}],
        "dns":{"nameservers":["8.8.8.8"],"domain":"example","search":["a"],"options":["ndots:2"]}})");
    CniResult r = parse_cni_result(j);
    EXPECT_EQ(r.cni_version, "1.0.0");
    ASSERT_EQ(r.interfaces.size(), 2u);
    EXPECT_EQ(r.interfaces[1].sandbox, "/run/netns/x");
    ASSERT_EQ(r.ips.size(), 2u);
    EXPECT_EQ(r.ips[0].address, "172.16.28.5/24");
    EXPECT_EQ(r.ips[0].gateway, "172.16.28.1");
    EXPECT_EQ(r.ips[0].interface, std::optional<size_t>(1));
    EXPECT_FALSE(r.ips[1].interface.has_value());
    ASSERT_EQ(r.routes.size(), 2u);
    EXPECT_EQ(r.routes[1].gw, "172.16.28.1");
    EXPECT_EQ(r.dns.nameservers, std::vector<std::string>{"8.8.8.8"});
    EXPECT_EQ(r.dns.domain, "example");
    EXPECT_FALSE(r.dns.empty());
    EXPECT_EQ(r.raw, j);
}

TEST(CniResult, Version040WithIpVersions) {
    auto r = parse_cni_result(json::parse(R"({"cniVersion":"0.4.0",
        "ips":[{"version":"4","address":"10.1.0.2/16","gateway":"10.1.0.1"}],"dns":{}})"));
    EXPECT_EQ(r.ips.at(0).address, "10.1.0.2/16");
    EXPECT_TRUE(r.dns.empty());
    EXPECT_TRUE(r.interfaces.empty());
}

TEST(CniResult, Hostile) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"([])", "not a JSON object"},
        {R"({})", "cniVersion"},
        {R"({"cniVersion":1})", "not a string"},
        {R"({"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24"}})", "not supported"},
        {R"({"cniVersion":"1.0.0","ips":{}})", "not an array"},
        {R"({"cniVersion":"1.0.0","ips":[7]})", "not an object"},
        {R"({"cniVersion":"1.0.0","ips":[{}]})", "address"},
        {R"({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.300/24"}]})", "prefix"},
        {R"({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3"}]})", "prefix"},
        {R"({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3/33"}]})", "prefix"},
        {R"({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3/8","gateway":"x"}]})",
         "not an IP address"},
        {R"({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3/8","interface":0}]})",
         "not an index"},
        {R"({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3/8","interface":-1}]})",
         "not an index"},
        {R"({"cniVersion":"1.0.0","interfaces":[{"name":"a","mac":"zz"}]})", "MAC"},
        {R"({"cniVersion":"1.0.0","interfaces":[{"mac":"aa:bb:cc:dd:ee:ff"}]})", "name"},
        {R"({"cniVersion":"1.0.0","routes":[{"dst":"default"}]})", "prefix"},
        {R"({"cniVersion":"1.0.0","dns":{"nameservers":["dns.example"]}})", "not an IP"},
        {R"({"cniVersion":"1.0.0","dns":{"search":[1]}})", "short string"},
        {R"({"cniVersion":"1.0.0","dns":[]})", "not an object"},
    };
    for (const auto& [text, expected] : cases) {
        std::string e = error_of(json::parse(text));
        EXPECT_NE(e.find(expected), std::string::npos) << text << " -> \"" << e << "\"";
    }
}

TEST(CniResult, HugeArraysAndStrings) {
    json ips = json::array();
    for (int i = 0; i < 100; ++i) ips.push_back({{"address", "10.0.0.1/8"}});
    EXPECT_NE(error_of({{"cniVersion", "1.0.0"}, {"ips", ips}}).find("more than"),
              std::string::npos);
    json routes = json::array();
    for (int i = 0; i < 5000; ++i) routes.push_back({{"dst", "10.0.0.0/8"}});
    EXPECT_NE(error_of({{"cniVersion", "1.0.0"}, {"routes", routes}}).find("more than"),
              std::string::npos);
    EXPECT_NE(
        error_of({{"cniVersion", "1.0.0"}, {"interfaces", {{{"name", std::string(10000, 'a')}}}}})
            .find("longer than"),
        std::string::npos);
}

}  // namespace
}  // namespace rkt::net
