// The network flags of run/prepare/run-prepared (stage0/pod/network_flags.h).
#include "stage0/pod/network_flags.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace rkt {
namespace {

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(NetFlag, Normalized) {
    using V = std::vector<std::string>;
    EXPECT_EQ(normalize_net_flag({}), V{});
    EXPECT_EQ(normalize_net_flag({""}), V{"default"});  // --net=
    EXPECT_EQ(normalize_net_flag({"a,,b,"}), (V{"a", "b"}));
    EXPECT_EQ(normalize_net_flag({"default,mynet:IP=10.1.2.3;K=V", "other"}),
              (V{"default", "mynet:IP=10.1.2.3;K=V", "other"}));
    EXPECT_EQ(normalize_net_flag({"host"}), V{"host"});
    EXPECT_EQ(normalize_net_flag({"none"}), V{"none"});
}

TEST(NetFlag, Refused) {
    EXPECT_EQ(error_of([] { normalize_net_flag({"host,default"}); }),
              "--net=host cannot be combined with other networks");
    EXPECT_EQ(error_of([] {
                  normalize_net_flag({"default", "none"});
              }),
              "--net=none cannot be combined with other networks");
    EXPECT_NE(error_of([] { normalize_net_flag({"a,a"}); }).find("twice"), std::string::npos);
    for (const char* bad : {"-x", "a b", "a:IP", "a:IP=1.2.3", "a:=1", "host:K=V", "a;b"})
        EXPECT_THROW(normalize_net_flag({bad}), Error) << bad;
    EXPECT_EQ(special_net({"host"}), "host");
    EXPECT_EQ(special_net({"default"}), "");
}

TEST(PortFlag, Parsed) {
    EXPECT_EQ(parse_port_flag("http:8080"), (PortFlag{"http", "", 8080}));
    EXPECT_EQ(parse_port_flag("80-tcp:127.0.0.1:80"), (PortFlag{"80-tcp", "127.0.0.1", 80}));
    EXPECT_EQ(parse_port_flag("dns:[::1]:53"), (PortFlag{"dns", "::1", 53}));
    EXPECT_EQ(parse_port_flag("p:65535").host_port, 65535);
    for (const char* bad : {"http", "http:", ":80", "http:0", "http:65536", "http:99999999999",
                            "http:x", "Http:80", "http:1.2.3:80", "http:::1:80",
                            "http:[1.2.3.4]:80", "http:[::1:80", "http:[::1]80", "http:-1"})
        EXPECT_THROW(parse_port_flag(bad), Error) << bad;
    EXPECT_NE(error_of([] { parse_port_flag("http"); }).find("NAME:[HOSTIP:]HOSTPORT"),
              std::string::npos);
}

PodManifest manifest_with_ports() {
    PodManifest pm;
    RuntimeApp web;
    web.name = "web";
    web.app.ports = {{"80-tcp", "tcp", 80}, {"53-udp", "udp", 53}};
    RuntimeApp db;
    db.name = "db";
    db.app.ports = {{"db", "tcp", 5432}};
    pm.apps = {web, db};
    return pm;
}

TEST(PortFlag, ResolvedAgainstTheApps) {
    auto pm = manifest_with_ports();
    auto ports = resolve_port_flags({"80-tcp:8080", "53-udp:127.0.0.1:5353", "db:5432"}, pm);
    ASSERT_EQ(ports.size(), 3u);
    EXPECT_EQ(ports[0], (PortForward{"80-tcp", "tcp", 80, "", 8080}));
    EXPECT_EQ(ports[1], (PortForward{"53-udp", "udp", 53, "127.0.0.1", 5353}));
    EXPECT_EQ(ports[2].pod_port, 5432);
    EXPECT_TRUE(resolve_port_flags({}, pm).empty());
    EXPECT_EQ(error_of([&] { resolve_port_flags({"http:80"}, pm); }),
              "--port \"http:80\": port name \"http\" is not exposed by any app of the pod "
              "(exposed: 80-tcp, 53-udp, db)");
    EXPECT_NE(error_of([] {
                  resolve_port_flags({"http:80"}, PodManifest{});
              }).find("no app exposes a port"),
              std::string::npos);
    // One host port (protocol, address) forwarded twice.
    EXPECT_THROW(resolve_port_flags({"80-tcp:8080", "db:8080"}, pm), Error);
    EXPECT_THROW(resolve_port_flags({"80-tcp:127.0.0.1:8080", "db:8080"}, pm), Error);
    EXPECT_NO_THROW(resolve_port_flags({"80-tcp:127.0.0.1:8080", "db:127.0.0.2:8080"}, pm));
    EXPECT_NO_THROW(resolve_port_flags({"80-tcp:53", "53-udp:53"}, pm));  // tcp and udp
}

TEST(PortFlag, FromExposedPorts) {
    auto p = ports_from_exposed({"80/tcp", "53/UDP", "8080", "0/tcp", "70000/tcp", "1/sctp", "/"});
    ASSERT_EQ(p.size(), 3u);
    EXPECT_EQ(p[1].name, "53-udp");
    EXPECT_EQ(p[1].protocol, "udp");
    EXPECT_EQ(p[2].name, "8080-tcp");
}

TEST(NetworkFlags, PortNeedsAContainedNetwork) {
    RunOptions o;
    EXPECT_EQ(error_of([&] { check_network_flags({"none"}, {"http:80"}, o); }),
              "--port flag does not work with 'none' networking");
    EXPECT_EQ(error_of([&] { check_network_flags({"host"}, {"http:80"}, o); }),
              "--port flag does not work with 'host' networking");
    EXPECT_NO_THROW(check_network_flags({}, {"http:80"}, o));
    o.dns = {"host", "8.8.8.8"};
    EXPECT_THROW(check_network_flags({}, {}, o), Error);
    o = {};
    o.hosts_entries = {"1.2.3.4"};
    EXPECT_THROW(check_network_flags({}, {}, o), Error);
}

TEST(NetworkFlags, FlyHasOnlyTheHostsNetwork) {
    Stage1 fly;
    fly.name = "fly";
    Stage1 nspawn;
    nspawn.name = "nspawn";
    RunOptions o;
    const std::string msg =
        "the fly stage1 has no network of its own: it shares the host's (drop --net, or use "
        "--net=host)";
    for (const char* net : {"default", "none", "mynet"})
        EXPECT_EQ(error_of([&] { check_stage1_network(fly, {net}, true, false, o); }), msg) << net;
    EXPECT_NO_THROW(check_stage1_network(fly, {"host"}, true, false, o));
    EXPECT_NO_THROW(check_stage1_network(fly, {"host"}, false, false, o));
    EXPECT_NO_THROW(check_stage1_network(nspawn, {"default"}, true, true, o));
    EXPECT_THROW(check_stage1_network(fly, {"host"}, false, true, o), Error);
    o.dns = {"host"};
    o.hosts_entries = {"host"};
    EXPECT_NO_THROW(check_stage1_network(fly, {"host"}, false, false, o));
    o.dns_search = {"a.example"};
    EXPECT_THROW(check_stage1_network(fly, {"host"}, false, false, o), Error);
    o = {};
    o.hosts_entries = {"1.2.3.4=x"};
    EXPECT_THROW(check_stage1_network(fly, {"host"}, false, false, o), Error);
}

}  // namespace
}  // namespace rkt
