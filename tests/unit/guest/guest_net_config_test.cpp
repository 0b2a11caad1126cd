// guest-init's network configuration: the rtnetlink messages byte for byte, acknowledgement
// parsing, the route plan (onlink, order), finding a NIC by MAC; and, as root, the whole of
// configure_interfaces in a throwaway network namespace on veth pairs, checked with `ip -j`.
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "guest-init/etc_files.h"
#include "guest-init/net_config.h"
#include "guest-init/netlink_socket.h"
#include "guest-init/rtnl_messages.h"

namespace rkt::guest_init {
namespace {

using guest::InterfaceSpec;
using guest::RouteSpec;

// A message taken apart again: its header, family header and attributes by type.
struct Parsed {
    nlmsghdr header{};
    std::string family_header;
    std::map<uint16_t, std::string> attributes;
};

template <typename T>
Parsed parse(const NetlinkMessage& m) {
    std::string_view b = m.bytes();
    Parsed p;
    EXPECT_GE(b.size(), sizeof p.header);
    std::memcpy(&p.header, b.data(), sizeof p.header);
    EXPECT_EQ(p.header.nlmsg_len, b.size());
    EXPECT_EQ(b.size() % 4, 0u);
    p.family_header = std::string(b.substr(sizeof p.header, sizeof(T)));
    size_t off = NLMSG_ALIGN(sizeof p.header) + NLMSG_ALIGN(sizeof(T));
    while (off + sizeof(nlattr) <= b.size()) {
        nlattr a;
        std::memcpy(&a, b.data() + off, sizeof a);
        EXPECT_GE(a.nla_len, sizeof a);
        EXPECT_TRUE(
            p.attributes.emplace(a.nla_type, b.substr(off + sizeof a, a.nla_len - sizeof a)).second)
            << "attribute " << a.nla_type << " twice";
        off += NLA_ALIGN(a.nla_len);
    }
    EXPECT_EQ(off, b.size());
    return p;
}

template <typename T>
T family_header(const Parsed& p) {
    T t;
    std::memcpy(&t, p.family_header.data(), sizeof t);
    return t;
}

uint32_t u32(const std::string& s) {
    uint32_t v = 0;
    EXPECT_EQ(s.size(), 4u);
    std::memcpy(&v, s.data(), std::min(s.size(), sizeof v));
    return v;
}

guest::IpPrefix prefix(const char* s) {
    return *guest::parse_ip_prefix(s);
}

guest::IpAddress ip(const char* s) {
    return *guest::parse_ip_address(s);
}

TEST(NetlinkMessages, LinkChange) {
    Parsed p = parse<ifinfomsg>(link_change_message(7, {"eth0", 1400, true}));
    EXPECT_EQ(p.header.nlmsg_type, RTM_NEWLINK);
    EXPECT_EQ(p.header.nlmsg_flags & NLM_F_CREATE, 0);  // never makes a link
    auto info = family_header<ifinfomsg>(p);
    EXPECT_EQ(info.ifi_index, 7);
    EXPECT_EQ(info.ifi_flags, unsigned{IFF_UP});
    EXPECT_EQ(info.ifi_change, unsigned{IFF_UP});
    EXPECT_EQ(p.attributes.at(IFLA_IFNAME), std::string("eth0\0", 5));
    EXPECT_EQ(u32(p.attributes.at(IFLA_MTU)), 1400u);

    p = parse<ifinfomsg>(link_change_message(7, {.up = false}));
    info = family_header<ifinfomsg>(p);
    EXPECT_EQ(info.ifi_flags, 0u);
    EXPECT_EQ(info.ifi_change, unsigned{IFF_UP});
    EXPECT_TRUE(p.attributes.empty());
    // A rename alone leaves the flags alone.
    info = family_header<ifinfomsg>(parse<ifinfomsg>(link_change_message(3, {.name = "net1"})));
    EXPECT_EQ(info.ifi_change, 0u);
}

TEST(NetlinkMessages, AddressHasNoPrefixRoute) {
    Parsed p = parse<ifaddrmsg>(address_add_message(5, prefix("172.16.28.5/24")));
    EXPECT_EQ(p.header.nlmsg_type, RTM_NEWADDR);
    EXPECT_NE(p.header.nlmsg_flags & NLM_F_CREATE, 0);
    auto a = family_header<ifaddrmsg>(p);
    EXPECT_EQ(a.ifa_family, AF_INET);
    EXPECT_EQ(a.ifa_prefixlen, 24);
    EXPECT_EQ(a.ifa_index, 5u);
    EXPECT_EQ(p.attributes.at(IFA_LOCAL), std::string("\xac\x10\x1c\x05", 4));
    EXPECT_EQ(p.attributes.at(IFA_ADDRESS), std::string("\xac\x10\x1c\x05", 4));
    EXPECT_EQ(u32(p.attributes.at(IFA_FLAGS)), uint32_t{IFA_F_NOPREFIXROUTE});

    p = parse<ifaddrmsg>(address_add_message(5, prefix("fd00:28::5/64")));
    a = family_header<ifaddrmsg>(p);
    EXPECT_EQ(a.ifa_family, AF_INET6);
    EXPECT_EQ(a.ifa_prefixlen, 64);
    EXPECT_EQ(p.attributes.at(IFA_LOCAL).size(), 16u);
    EXPECT_EQ(u32(p.attributes.at(IFA_FLAGS)), uint32_t{IFA_F_NOPREFIXROUTE | IFA_F_NODAD});
}

TEST(NetlinkMessages, Routes) {
    // On the link: scope link, no gateway.
    Parsed p = parse<rtmsg>(route_add_message(4, {prefix("172.16.28.1/32"), {}, 0, false}));
    EXPECT_EQ(p.header.nlmsg_type, RTM_NEWROUTE);
    EXPECT_EQ(p.header.nlmsg_flags, NLM_F_CREATE);
    auto r = family_header<rtmsg>(p);
    EXPECT_EQ(r.rtm_family, AF_INET);
    EXPECT_EQ(r.rtm_dst_len, 32);
    EXPECT_EQ(r.rtm_table, RT_TABLE_MAIN);
    EXPECT_EQ(r.rtm_scope, RT_SCOPE_LINK);
    EXPECT_EQ(r.rtm_type, RTN_UNICAST);
    EXPECT_EQ(r.rtm_flags, 0u);
    EXPECT_EQ(p.attributes.at(RTA_DST), std::string("\xac\x10\x1c\x01", 4));
    EXPECT_EQ(u32(p.attributes.at(RTA_OIF)), 4u);
    EXPECT_EQ(p.attributes.count(RTA_GATEWAY), 0u);
    EXPECT_EQ(p.attributes.count(RTA_PRIORITY), 0u);
    // The default route via a gateway declared on the link, with a metric.
    p = parse<rtmsg>(route_add_message(4, {prefix("0.0.0.0/0"), ip("192.168.1.1"), 50, true}));
    r = family_header<rtmsg>(p);
    EXPECT_EQ(r.rtm_dst_len, 0);
    EXPECT_EQ(r.rtm_scope, RT_SCOPE_UNIVERSE);
    EXPECT_EQ(r.rtm_flags, unsigned{RTNH_F_ONLINK});
    EXPECT_EQ(p.attributes.count(RTA_DST), 0u);
    EXPECT_EQ(p.attributes.at(RTA_GATEWAY), std::string("\xc0\xa8\x01\x01", 4));
    EXPECT_EQ(u32(p.attributes.at(RTA_PRIORITY)), 50u);
    // IPv6.
    p = parse<rtmsg>(route_add_message(4, {prefix("fd00::/8"), ip("fe80::1"), 1024, false}));
    r = family_header<rtmsg>(p);
    EXPECT_EQ(r.rtm_family, AF_INET6);
    EXPECT_EQ(r.rtm_dst_len, 8);
    EXPECT_EQ(p.attributes.at(RTA_DST).size(), 16u);
    EXPECT_EQ(p.attributes.at(RTA_GATEWAY).size(), 16u);
}

TEST(NetlinkMessages, RequestFlagsAndSequence) {
    NetlinkMessage m = link_change_message(1, {.up = true});
    m.make_request(42);
    nlmsghdr h;
    std::memcpy(&h, m.bytes().data(), sizeof h);
    EXPECT_EQ(h.nlmsg_seq, 42u);
    EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
}

// An acknowledgement as the kernel writes it with NETLINK_CAP_ACK (and, for an error with a
// text, NETLINK_EXT_ACK).
std::string ack(uint32_t seq, int error, const std::string& text = "") {
    nlmsgerr e{};
    e.error = -error;
    e.msg.nlmsg_len = 64;  // the request's; capped, so not echoed
    e.msg.nlmsg_seq = seq;
    std::string body(reinterpret_cast<const char*>(&e), sizeof e);
    uint16_t flags = NLM_F_CAPPED;
    if (!text.empty()) {
        flags |= NLM_F_ACK_TLVS;
        nlattr a{static_cast<uint16_t>(sizeof(nlattr) + text.size() + 1), NLMSGERR_ATTR_MSG};
        body.append(reinterpret_cast<const char*>(&a), sizeof a);
        body += text;
        body.push_back('\0');
        body.resize(NLMSG_ALIGN(body.size()), '\0');
    }
    nlmsghdr h{};
    h.nlmsg_len = static_cast<uint32_t>(sizeof h + body.size());
    h.nlmsg_type = NLMSG_ERROR;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = seq;
    return std::string(reinterpret_cast<const char*>(&h), sizeof h) + body;
}

TEST(NetlinkAck, Parsed) {
    EXPECT_EQ(parse_netlink_ack(ack(3, 0), 3), (NetlinkAck{0, ""}));
    EXPECT_EQ(parse_netlink_ack(ack(3, ENETUNREACH), 3), (NetlinkAck{ENETUNREACH, ""}));
    EXPECT_EQ(parse_netlink_ack(ack(3, EINVAL, "Nexthop has invalid gateway"), 3),
              (NetlinkAck{EINVAL, "Nexthop has invalid gateway"}));
    // Another request's answer is skipped; two in one datagram are both read.
    EXPECT_FALSE(parse_netlink_ack(ack(2, 0), 3).has_value());
    EXPECT_EQ(parse_netlink_ack(ack(2, 0) + ack(3, EEXIST), 3), (NetlinkAck{EEXIST, ""}));
    // Malformed: refused, never read past the end.
    std::string good = ack(3, 0);
    EXPECT_THROW(parse_netlink_ack(good.substr(0, 10), 3), Error);
    EXPECT_THROW(parse_netlink_ack(good.substr(0, good.size() - 4), 3), Error);
    std::string zero_length = good;
    std::memset(zero_length.data(), 0, 4);
    EXPECT_THROW(parse_netlink_ack(zero_length, 3), Error);
}

InterfaceSpec interface(std::vector<std::string> addresses, std::vector<RouteSpec> routes) {
    return {"eth0", "02:aa:00:00:00:01", 1500, std::move(addresses), std::move(routes)};
}

TEST(RoutePlan, OnlinkOnlyWhenNoRouteOfTheLinkCoversTheGateway) {
    InterfaceSpec ptp =
        interface({"172.16.28.5/24"}, {{"172.16.28.1/32", "", 0}, {"0.0.0.0/0", "172.16.28.1", 0}});
    EXPECT_FALSE(gateway_needs_onlink(ptp, ip("172.16.28.1")));
    // In the address's subnet but with no route to it (there is no prefix route): on the link.
    EXPECT_TRUE(gateway_needs_onlink(ptp, ip("172.16.28.2")));
    EXPECT_TRUE(gateway_needs_onlink(ptp, ip("192.168.1.1")));
    InterfaceSpec bridge =
        interface({"10.22.0.5/16"}, {{"10.22.0.0/16", "", 0}, {"0.0.0.0/0", "10.22.0.1", 0}});
    EXPECT_FALSE(gateway_needs_onlink(bridge, ip("10.22.0.1")));
    // IPv6: the kernel's fe80::/64 covers link-local gateways; others need a route too.
    InterfaceSpec v6 = interface({"fd00::5/64"}, {{"::/0", "fe80::1", 0}});
    EXPECT_FALSE(gateway_needs_onlink(v6, ip("fe80::1")));
    EXPECT_TRUE(gateway_needs_onlink(v6, ip("fd00::1")));
    v6.routes.push_back({"fd00::/64", "", 0});
    EXPECT_FALSE(gateway_needs_onlink(v6, ip("fd00::1")));
    // A route with a gateway does not make its destination on the link.
    InterfaceSpec via = interface({}, {{"10.0.0.0/8", "192.168.1.1", 0}});
    EXPECT_TRUE(gateway_needs_onlink(via, ip("10.0.0.1")));
}

TEST(RoutePlan, LinkRoutesFirstAndHostBitsCleared) {
    InterfaceSpec ifc = interface({"172.16.28.5/24"}, {{"0.0.0.0/0", "172.16.28.1", 0},
                                                       {"10.20.3.4/16", "192.168.7.1", 7},
                                                       {"172.16.28.1/32", "", 0},
                                                       {"172.16.29.9/24", "", 3}});
    auto routes = interface_routes(ifc);
    ASSERT_EQ(routes.size(), 4u);
    EXPECT_EQ(routes[0], (Route{prefix("172.16.28.1/32"), {}, 0, false}));
    EXPECT_EQ(routes[1], (Route{prefix("172.16.29.0/24"), {}, 3, false}));
    EXPECT_EQ(routes[2], (Route{prefix("0.0.0.0/0"), ip("172.16.28.1"), 0, false}));
    EXPECT_EQ(routes[3], (Route{prefix("10.20.0.0/16"), ip("192.168.7.1"), 7, true}));
    EXPECT_EQ(describe_route(routes[2]), "0.0.0.0/0 via 172.16.28.1");
    EXPECT_EQ(describe_route(routes[0]), "172.16.28.1/32");
}

TEST(FindNetdev, ByMacInSysfs) {
    char tmpl[] = "/tmp/guest-net-sysfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    fs::make_dirs(dir + "/lo");
    fs::write_file(dir + "/lo/address", "00:00:00:00:00:00\n");
    fs::make_dirs(dir + "/eth0");
    fs::write_file(dir + "/eth0/address", "52:54:00:12:34:56\n");
    fs::make_dirs(dir + "/eth1");
    fs::write_file(dir + "/eth1/address", "0A:58:AC:10:1C:05\n");
    fs::make_dirs(dir + "/sit0");  // no address file
    EXPECT_EQ(find_netdev_by_mac(dir, "52:54:00:12:34:56"), "eth0");
    EXPECT_EQ(find_netdev_by_mac(dir, "0a:58:ac:10:1c:05"), "eth1");
    EXPECT_EQ(find_netdev_by_mac(dir, "02:00:00:00:00:01"), "");
    EXPECT_EQ(find_netdev_by_mac(dir + "/nope", "52:54:00:12:34:56"), "");
    // Waiting for a NIC that never comes ends in an error naming it.
    try {
        configure_interfaces({interface({}, {})}, std::chrono::milliseconds(30), dir);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(
            std::string(e.what()).find("eth0: no network interface has MAC 02:aa:00:00:00:01"),
            std::string::npos)
            << e.what();
    }
    fs::remove_tree(dir);
}

TEST(EtcFiles, ResolvConfDomain) {
    guest::PodSpec spec;
    spec.hostname = "h";
    spec.dns = guest::DnsConfig{{"10.0.0.2"}, {"a.example"}, {}, "pod.example"};
    EXPECT_EQ(*resolv_conf(spec),
              "# Generated by rkt\nnameserver 10.0.0.2\ndomain pod.example\nsearch a.example\n");
    spec.dns->search.clear();
    EXPECT_EQ(*resolv_conf(spec), "# Generated by rkt\nnameserver 10.0.0.2\ndomain pod.example\n");
}

// ---- for real, in a network namespace of its own ----

// NOLINTNEXTLINE(bugprone-exception-escape): a test's result; its json members may throw on copy
struct NetnsRun {
    std::string skip;   // why it could not run
    std::string error;  // what configure_interfaces threw
    nlohmann::json links, routes4, routes6;
};

std::string capture(const std::string& command) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    return out;
}

// In a child with its own network and mount namespaces (gone when it exits): runs `setup` (shell
// commands), configure_interfaces on a sysfs of that namespace, then `ip -j` dumps.
NetnsRun run_in_netns(const std::string& setup, const std::vector<InterfaceSpec>& interfaces) {
    NetnsRun result;
    if (::geteuid() != 0) {
        result.skip = "configuring interfaces needs root (CAP_NET_ADMIN, unshare)";
        return result;
    }
    if (::access("/usr/sbin/ip", X_OK) != 0 && ::access("/sbin/ip", X_OK) != 0) {
        result.skip = "no ip(8) (Debian package iproute2)";
        return result;
    }
    char tmpl[] = "/tmp/guest-netns-sysfs-XXXXXX";
    if (!::mkdtemp(tmpl)) {
        result.skip = "no temporary directory";
        return result;
    }
    std::string sysfs = tmpl;
    io::Pipe pipe = io::make_pipe();  // named: the analyzer misreads a structured binding
    UniqueFd& r = pipe.read;
    UniqueFd& w = pipe.write;
    pid_t child = ::fork();
    if (child < 0) {
        result.skip = "fork failed";
        return result;
    }
    if (child == 0) {
        r.reset();
        nlohmann::json out;
        if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("sysfs", sysfs.c_str(), "sysfs", 0, nullptr) != 0) {
            out["skip"] =
                std::string("no network namespace with its own sysfs: ") + std::strerror(errno);
        } else if (std::system(("set -e; PATH=/usr/sbin:/sbin:$PATH; " + setup).c_str()) != 0) {
            out["skip"] = "could not make the test's links (veth)";
        } else {
            try {
                configure_interfaces(interfaces, std::chrono::milliseconds(2000),
                                     sysfs + "/class/net");
            } catch (const std::exception& e) {
                out["error"] = e.what();
            }
            out["links"] = capture("PATH=/usr/sbin:/sbin:$PATH ip -j -d addr show");
            out["routes4"] = capture("PATH=/usr/sbin:/sbin:$PATH ip -j -4 route show table main");
            out["routes6"] = capture("PATH=/usr/sbin:/sbin:$PATH ip -j -6 route show table main");
        }
        io::try_write_all(w.get(), out.dump());
        ::_exit(0);
    }
    w.reset();
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = io::read_some(r.get(), buf, sizeof buf)) > 0;)
        text.append(buf, static_cast<size_t>(n));
    int status = 0;
    ::waitpid(child, &status, 0);
    ::rmdir(sysfs.c_str());
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        result.skip = "the child reported nothing (status " + std::to_string(status) + ")";
        return result;
    }
    if (j.contains("skip")) {
        result.skip = j["skip"];
        return result;
    }
    if (j.contains("error")) result.error = j["error"];
    result.links = nlohmann::json::parse(j["links"].get<std::string>());
    result.routes4 = nlohmann::json::parse(j["routes4"].get<std::string>());
    result.routes6 = nlohmann::json::parse(j["routes6"].get<std::string>());
    return result;
}

const nlohmann::json* find_link(const nlohmann::json& links, const std::string& name) {
    for (const auto& l : links)
        if (l.value("ifname", "") == name) return &l;
    return nullptr;
}

const nlohmann::json* find_route(const nlohmann::json& routes, const std::string& dst) {
    for (const auto& r : routes)
        if (r.value("dst", "") == dst) return &r;
    return nullptr;
}

bool has_flag(const nlohmann::json& j, const std::string& flag) {
    if (!j.contains("flags")) return false;
    for (const auto& f : j["flags"])
        if (f == flag) return true;
    return false;
}

// Two veth pairs whose kernel names are the spec's swapped: the NIC of eth0 is called eth1.
constexpr const char* kTwoVeths =
    "ip link add eth1 address 02:aa:00:00:00:01 type veth peer name peer0; "
    "ip link add eth0 address 02:aa:00:00:00:02 type veth peer name peer1; "
    "ip link set peer0 up; ip link set peer1 up";

TEST(NetConfigNetns, ConfiguresNamesMtuAddressesAndRoutes) {
    InterfaceSpec eth0{"eth0",
                       "02:aa:00:00:00:01",
                       1400,
                       {"172.16.28.5/24", "fd00:28::5/64"},
                       {{"0.0.0.0/0", "172.16.28.1", 0},
                        {"172.16.28.1/32", "", 0},
                        {"10.9.0.0/16", "192.168.1.1", 0},
                        {"10.20.3.4/16", "172.16.28.1", 50},
                        {"::/0", "fd00:28::1", 1024}}};
    InterfaceSpec eth1{"eth1",
                       "02:aa:00:00:00:02",
                       9000,
                       {"10.1.0.2/16"},
                       {{"10.1.0.0/16", "", 0}, {"10.2.0.0/16", "10.1.0.1", 0}}};
    NetnsRun run = run_in_netns(kTwoVeths, {eth0, eth1});
    if (!run.skip.empty()) GTEST_SKIP() << run.skip;
    ASSERT_EQ(run.error, "");

    const auto* l0 = find_link(run.links, "eth0");
    const auto* l1 = find_link(run.links, "eth1");
    ASSERT_TRUE(l0 && l1) << run.links.dump();
    EXPECT_EQ((*l0)["address"], "02:aa:00:00:00:01");  // renamed: it was eth1
    EXPECT_EQ((*l1)["address"], "02:aa:00:00:00:02");
    EXPECT_EQ((*l0)["mtu"], 1400);
    EXPECT_EQ((*l1)["mtu"], 9000);
    EXPECT_TRUE(has_flag(*l0, "UP"));
    EXPECT_TRUE(has_flag(*l1, "UP"));
    std::map<std::string, int> addresses;
    for (const auto& a : (*l0)["addr_info"])
        if (a["scope"] == "global") addresses[a["local"]] = a["prefixlen"];
    EXPECT_EQ(addresses, (std::map<std::string, int>{{"172.16.28.5", 24}, {"fd00:28::5", 64}}));

    // No prefix routes: the subnets are routed only as the spec says.
    EXPECT_EQ(find_route(run.routes4, "172.16.28.0/24"), nullptr) << run.routes4.dump();
    EXPECT_EQ(find_route(run.routes6, "fd00:28::/64"), nullptr) << run.routes6.dump();
    const auto* link = find_route(run.routes4, "172.16.28.1");
    ASSERT_TRUE(link) << run.routes4.dump();
    EXPECT_EQ((*link)["dev"], "eth0");
    EXPECT_EQ((*link)["scope"], "link");
    const auto* def = find_route(run.routes4, "default");
    ASSERT_TRUE(def);
    EXPECT_EQ((*def)["gateway"], "172.16.28.1");
    EXPECT_EQ((*def)["dev"], "eth0");
    EXPECT_FALSE(has_flag(*def, "onlink"));
    const auto* far = find_route(run.routes4, "10.9.0.0/16");
    ASSERT_TRUE(far);
    EXPECT_EQ((*far)["gateway"], "192.168.1.1");
    EXPECT_TRUE(has_flag(*far, "onlink"));
    const auto* masked = find_route(run.routes4, "10.20.0.0/16");
    ASSERT_TRUE(masked);
    EXPECT_EQ((*masked)["metric"], 50);
    const auto* other = find_route(run.routes4, "10.2.0.0/16");
    ASSERT_TRUE(other);
    EXPECT_EQ((*other)["dev"], "eth1");
    EXPECT_EQ((*other)["gateway"], "10.1.0.1");
    const auto* v6 = find_route(run.routes6, "default");
    ASSERT_TRUE(v6) << run.routes6.dump();
    EXPECT_EQ((*v6)["gateway"], "fd00:28::1");
    EXPECT_EQ((*v6)["metric"], 1024);
    EXPECT_TRUE(has_flag(*v6, "onlink"));
}

TEST(NetConfigNetns, ARouteTheKernelRefusesNamesInterfaceAndRoute) {
    // A multicast gateway (the spec allows any address; the kernel does not).
    InterfaceSpec eth0{"eth0",
                       "02:aa:00:00:00:01",
                       1500,
                       {"172.16.28.5/24"},
                       {{"172.16.28.0/24", "", 0}, {"10.30.0.0/16", "224.0.0.1", 0}}};
    NetnsRun run = run_in_netns(
        "ip link add ens3 address 02:aa:00:00:00:01 type veth peer name p0; ip link set p0 up",
        {eth0});
    if (!run.skip.empty()) GTEST_SKIP() << run.skip;
    EXPECT_EQ(
        run.error.rfind("eth0: cannot add route 10.30.0.0/16 via 224.0.0.1: Invalid argument", 0),
        0u)
        << "error: \"" << run.error << "\"";
    // What came before the failure is in place.
    EXPECT_NE(find_link(run.links, "eth0"), nullptr);
    EXPECT_NE(find_route(run.routes4, "172.16.28.0/24"), nullptr);
}

}  // namespace
}  // namespace rkt::guest_init
