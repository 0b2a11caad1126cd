#include "network/pod_network.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/process.h"
#include "common/strings.h"
#include "common/uuid.h"
#include "network/netns.h"
#include "test_support.h"

namespace rkt::net {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::TempDir;
using test::write_script;

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// ---- With fake plugins: the order of calls, rollback, ports, plan and info files. ----

class PodNetworkFake : public ::testing::Test {
protected:
    void SetUp() override {
        fs::make_dirs(dir_ / "pod");
        fs::make_dirs(dir_ / "local/net.d");
        // A plugin that logs "<cmd> <type> <ifname>", keeps its stdin, and on ADD prints a result
        // (its own address when it starts the chain, else the prevResult it got).
        for (const std::string type : {"ptp", "host-local", "portmap", "first", "second"}) {
            std::string in = (dir_ / "calls").string() + "/" + type;
            write_script(dir_ / "bin", type,
                         "cfg=$(cat)\n"
                         "mkdir -p " +
                             (dir_ / "calls").string() +
                             "\n"
                             "echo \"$CNI_COMMAND " +
                             type + " $CNI_IFNAME\" >> " + log() +
                             "\n"
                             "printf '%s' \"$cfg\" > " +
                             in +
                             "-$CNI_COMMAND-$CNI_IFNAME.json\n"
                             "[ -e " +
                             (dir_ / ("fail-" + type + "-")).string() +
                             "$CNI_COMMAND ] && { echo '{\"code\":11,\"msg\":\"told to fail\"}'; "
                             "exit 1; }\n"
                             "[ \"$CNI_COMMAND\" = ADD ] && printf '{\"cniVersion\":\"1.0.0\","
                             "\"interfaces\":[{\"name\":\"%s\",\"sandbox\":\"%s\"}],"
                             "\"ips\":[{\"address\":\"10.5.0.2/24\",\"gateway\":\"10.5.0.1\","
                             "\"interface\":0}]}' \"$CNI_IFNAME\" \"$CNI_NETNS\"\n"
                             "exit 0\n");
        }
    }
    std::string log() const { return (dir_ / "log").string(); }
    std::vector<std::string> calls() const {
        auto text = fs::read_file_if_exists(dir_ / "log");
        std::vector<std::string> lines;
        for (auto& l : strings::split(text.value_or(""), '\n'))
            if (!l.empty()) lines.push_back(l);
        return lines;
    }
    json stdin_of(const std::string& type, const std::string& cmd, const std::string& ifname) {
        return json::parse(
            fs::read_file(dir_ / "calls" / (type + "-" + cmd + "-" + ifname + ".json")));
    }
    void fail(const std::string& type, const std::string& cmd) {
        fs::write_file(dir_ / ("fail-" + type + "-" + cmd), "");
    }
    void network(const std::string& name, const std::string& conflist_plugins) {
        fs::write_file(dir_ / "local/net.d" / (name + ".conflist"),
                       R"({"cniVersion":"1.0.0","name":")" + name + R"(","plugins":)" +
                           conflist_plugins + "}");
    }
    PodNetworkSpec spec(const std::vector<std::string>& nets) {
        PodNetworkSpec s;
        s.uuid = "5e3c1a2b-0000-4000-8000-000000000001";
        s.pod_dir = dir_ / "pod";
        s.netns = "/run/netns/rkt-fake-test-never-created";
        for (const auto& n : nets) s.networks.push_back({n, "", ""});
        s.configs = {dir_ / "local", dir_ / "system", dir_ / "ipam"};
        s.cni_path = {(dir_ / "bin").string()};
        s.plugin_timeout = 5s;
        return s;
    }
    TempDir dir_;
};

TEST_F(PodNetworkFake, AttachThenDetachInReverseOrder) {
    network("a", R"([{"type":"first"},{"type":"second"}])");
    PodNetworkSpec s = spec({"a", "default"});
    s.networks[0].args = "K=V";
    PortReservations ports;
    auto attached = attach_networks(s, ports);
    ASSERT_EQ(attached.size(), 2u);
    EXPECT_EQ(attached[0].net_name, "a");
    EXPECT_EQ(attached[0].if_name, "eth0");
    EXPECT_EQ(attached[0].ip, "10.5.0.2");
    EXPECT_EQ(attached[0].mask, "255.255.255.0");
    EXPECT_EQ(attached[0].gateway, "10.5.0.1");
    EXPECT_EQ(attached[0].args, "K=V");
    EXPECT_EQ(attached[0].plugin_path, (dir_ / "bin/first").string());
    EXPECT_EQ(attached[1].net_conf, "built-in");
    EXPECT_EQ(attached[1].if_name, "eth1");

    // The second plugin got the first's result; name and version came from the list.
    json second_add = stdin_of("second", "ADD", "eth0");
    EXPECT_EQ(second_add["name"], "a");
    EXPECT_EQ(second_add["cniVersion"], "1.0.0");
    EXPECT_EQ(second_add["prevResult"]["ips"][0]["address"], "10.5.0.2/24");
    EXPECT_FALSE(stdin_of("first", "ADD", "eth0").contains("prevResult"));
    EXPECT_EQ(stdin_of("ptp", "ADD", "eth1")["ipam"]["dataDir"], (dir_ / "ipam").string());

    EXPECT_EQ(fs::read_file(dir_ / "pod/netns"), s.netns);
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "pod/net-info.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    EXPECT_TRUE(std::filesystem::exists(dir_ / "pod/net-plan.json"));
    auto info = read_net_info(dir_ / "pod");
    ASSERT_EQ(info.size(), 2u);
    EXPECT_EQ(info[1].result.ips.at(0).gateway, "10.5.0.1");
    EXPECT_EQ(networks_summary(info, ", "), "a:ip4=10.5.0.2, default:ip4=10.5.0.2");

    detach_networks(dir_ / "pod", s.cni_path, 5s);
    EXPECT_EQ(calls(),
              (std::vector<std::string>{"ADD first eth0", "ADD second eth0", "ADD ptp eth1",
                                        "DEL ptp eth1", "DEL second eth0", "DEL first eth0"}));
    // DEL gets the chain's final result, and CNI_ARGS tell old plugins to ignore unknown keys.
    EXPECT_EQ(stdin_of("first", "DEL", "eth0")["prevResult"]["interfaces"][0]["name"], "eth0");
    EXPECT_FALSE(std::filesystem::exists(dir_ / "pod/net-plan.json"));
    EXPECT_TRUE(std::filesystem::exists(dir_ / "pod/net-info.json"));
    detach_networks(dir_ / "pod", s.cni_path, 5s);  // again: nothing to do
    EXPECT_EQ(calls().size(), 6u);
}

TEST_F(PodNetworkFake, FailedAddIsRolledBack) {
    network("a", R"([{"type":"first"},{"type":"second"}])");
    fail("second", "ADD");
    PortReservations ports;
    std::string e = error_of([&] { attach_networks(spec({"default", "a"}), ports); });
    EXPECT_EQ(e, "network a (eth1): plugin second: ADD failed (code 11) told to fail");
    EXPECT_EQ(calls(),
              (std::vector<std::string>{"ADD ptp eth0", "ADD first eth1", "ADD second eth1",
                                        "DEL second eth1", "DEL first eth1", "DEL ptp eth0"}));
    EXPECT_FALSE(std::filesystem::exists(dir_ / "pod/net-plan.json"));
    EXPECT_FALSE(std::filesystem::exists(dir_ / "pod/net-info.json"));
}

TEST_F(PodNetworkFake, FailedDelKeepsThePlanForARetry) {
    PortReservations ports;
    attach_networks(spec({"default"}), ports);
    fail("ptp", "DEL");
    std::string e = error_of([&] { detach_networks(dir_ / "pod", {(dir_ / "bin").string()}); });
    EXPECT_NE(e.find("network default (eth0): plugin ptp: DEL failed (code 11) told to fail"),
              std::string::npos)
        << e;
    EXPECT_TRUE(std::filesystem::exists(dir_ / "pod/net-plan.json"));
    std::filesystem::remove(dir_ / "fail-ptp-DEL");
    detach_networks(dir_ / "pod", {(dir_ / "bin").string()});
    EXPECT_FALSE(std::filesystem::exists(dir_ / "pod/net-plan.json"));
}

TEST_F(PodNetworkFake, UnknownNetworkListsTheKnownOnes) {
    PortReservations ports;
    std::string e = error_of([&] { attach_networks(spec({"nosuch"}), ports); });
    EXPECT_EQ(e, "network \"nosuch\" is not configured: add nosuch.conf or nosuch.conflist to " +
                     (dir_ / "local/net.d").string() +
                     " (configured networks: default, default-restricted)");
    EXPECT_TRUE(calls().empty());
}

TEST_F(PodNetworkFake, MissingPluginIsFoundBeforeAnyAdd) {
    network("a", R"([{"type":"first"},{"type":"absent"}])");
    PortReservations ports;
    std::string e = error_of([&] { attach_networks(spec({"default", "a"}), ports); });
    EXPECT_EQ(e.rfind("network a (eth1): plugin absent: not found in the CNI path", 0), 0u) << e;
    EXPECT_TRUE(calls().empty());
    EXPECT_FALSE(std::filesystem::exists(dir_ / "pod/net-plan.json"));
}

TEST_F(PodNetworkFake, PortsGoToTheMasqueradingNetwork) {
    network("a", R"([{"type":"first","capabilities":{"portMappings":true}}])");
    PodNetworkSpec s = spec({"a", "default"});
    s.ports = {{"http", "tcp", 80, "127.0.0.1", 0}};
    // An ephemeral port the kernel gives, so the test never collides with the host's.
    UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    s.ports[0].host_port = ntohs(addr.sin_port);
    probe.reset();

    PortReservations ports;
    attach_networks(s, ports);
    EXPECT_EQ(ports.sockets.size(), 1u);
    // default masquerades: its chain got portmap, with the mappings; a's plugin got none.
    json portmap = stdin_of("portmap", "ADD", "eth1");
    EXPECT_EQ(portmap["snat"], true);
    EXPECT_FALSE(portmap.contains("capabilities"));
    EXPECT_EQ(portmap["runtimeConfig"]["portMappings"],
              json::parse(R"([{"hostPort":)" + std::to_string(s.ports[0].host_port) +
                          R"(,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"}])"));
    EXPECT_EQ(portmap["prevResult"]["ips"][0]["address"], "10.5.0.2/24");
    EXPECT_FALSE(stdin_of("first", "ADD", "eth0").contains("runtimeConfig"));
    EXPECT_FALSE(stdin_of("first", "ADD", "eth0").contains("capabilities"));

    // The port is held while the pod runs.
    UniqueFd other(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_NE(::bind(other.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    detach_networks(dir_ / "pod", s.cni_path);
    EXPECT_EQ(stdin_of("portmap", "DEL", "eth1")["runtimeConfig"]["portMappings"].size(), 1u);
}

TEST_F(PodNetworkFake, HostPortInUse) {
    UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(holder.get(), 1), 0);
    socklen_t len = sizeof addr;
    ::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    uint16_t port = ntohs(addr.sin_port);

    PodNetworkSpec s = spec({"default"});
    s.ports = {{"web", "tcp", 8080, "127.0.0.1", port}};
    PortReservations ports;
    std::string e = error_of([&] { attach_networks(s, ports); });
    EXPECT_EQ(
        e.rfind("--port web: host port " + std::to_string(port) + "/tcp on 127.0.0.1 is in use", 0),
        0u)
        << e;
    EXPECT_TRUE(calls().empty());
    EXPECT_TRUE(ports.sockets.empty());
    EXPECT_FALSE(std::filesystem::exists(dir_ / "pod/net-plan.json"));
}

TEST_F(PodNetworkFake, GarbledNetInfoReadsAsNothing) {
    EXPECT_TRUE(read_net_info(dir_ / "pod").empty());
    fs::write_file(dir_ / "pod/net-info.json", "[{\"netName\":");
    EXPECT_TRUE(read_net_info(dir_ / "pod").empty());
    fs::write_file(dir_ / "pod/net-info.json", R"([{"netName":"x","ip":7}])");
    EXPECT_TRUE(read_net_info(dir_ / "pod").empty());
    fs::write_file(dir_ / "pod/net-info.json",
                   R"([{"netName":"x","ip":"10.0.0.9"},{"netName":"y"}])");
    EXPECT_EQ(networks_summary(read_net_info(dir_ / "pod"), ","), "x:ip4=10.0.0.9");
}

TEST_F(PodNetworkFake, DetachRefusesANetnsFileNamingSomethingElse) {
    fs::write_file(dir_ / "pod/netns", "/etc/passwd");
    EXPECT_NE(error_of([&] { detach_networks(dir_ / "pod", {}); }).find("not a network namespace"),
              std::string::npos);
    EXPECT_TRUE(std::filesystem::exists("/etc/passwd"));
}

// ---- With the real plugins, as root: a netns of our own, the default network. ----

bool have_real_plugins() {
    return ::geteuid() == 0 && ::access("/usr/lib/cni/ptp", X_OK) == 0 &&
           ::access("/usr/lib/cni/host-local", X_OK) == 0 && find_executable("iptables") &&
           find_executable("ip");
}

std::string nat_rules() {
    return run_command_checked({"iptables", "-w", "-t", "nat", "-S"});
}

// Removes whatever a test's pod may have left, even when the test failed half way: the DELs,
// then the namespace (its end takes the pod's end of the veth, and so the host's end), then any
// nat rule and chain that still mention the pod.
class PodCleanup {
public:
    PodCleanup(std::filesystem::path pod_dir, std::string uuid, std::string netns)
        : pod_dir_(std::move(pod_dir)), uuid_(std::move(uuid)), netns_(std::move(netns)) {}
    ~PodCleanup() {
        try {
            detach_networks(pod_dir_, {"/usr/lib/cni"}, 10s);
        } catch (...) {
        }
        try {
            remove_netns(netns_);
        } catch (...) {
        }
        try {
            remove_nat_rules();
        } catch (...) {
        }
    }

private:
    void remove_nat_rules() {
        for (const std::string chain : {"POSTROUTING", "PREROUTING", "OUTPUT"}) {
            auto lines = strings::split(
                run_command_checked({"iptables", "-w", "-t", "nat", "-S", chain}), '\n');
            std::vector<int> numbers;
            std::vector<std::string> targets;
            int n = 0;
            for (const auto& l : lines) {
                if (!l.starts_with("-A ")) continue;
                ++n;
                if (l.find(uuid_) == std::string::npos) continue;
                numbers.push_back(n);
                auto j = l.find(" -j ");
                if (j != std::string::npos)
                    targets.push_back(strings::split(l.substr(j + 4), ' ')[0]);
            }
            std::reverse(numbers.begin(), numbers.end());
            for (int num : numbers)
                run_command({"iptables", "-w", "-t", "nat", "-D", chain, std::to_string(num)});
            for (const auto& t : targets) {
                if (!t.starts_with("CNI-")) continue;
                run_command({"iptables", "-w", "-t", "nat", "-F", t});
                run_command({"iptables", "-w", "-t", "nat", "-X", t});
            }
        }
    }
    std::filesystem::path pod_dir_;
    std::string uuid_;
    std::string netns_;
};

class PodNetworkReal : public ::testing::Test {
protected:
    void SetUp() override {
        if (!have_real_plugins())
            GTEST_SKIP() << "needs root, /usr/lib/cni/ptp and host-local, iptables and ip";
        uuid_ = new_uuid();
        netns_ = netns_path_for(uuid_);
        fs::make_dirs(dir_ / "pod");
        cleanup_ = std::make_unique<PodCleanup>(dir_ / "pod", uuid_, netns_);
        create_netns(netns_);
    }
    PodNetworkSpec spec() const {
        PodNetworkSpec s;
        s.uuid = uuid_;
        s.pod_dir = dir_ / "pod";
        s.netns = netns_;
        s.networks = {{"default", "", ""}};
        s.configs = {dir_ / "local", dir_ / "system", dir_ / "ipam"};
        s.cni_path = {"/usr/lib/cni"};
        s.plugin_timeout = 30s;
        return s;
    }
    std::string host_veth(const std::vector<AttachedNetwork>& attached) const {
        for (const auto& i : attached.at(0).result.interfaces)
            if (i.sandbox.empty()) return i.name;
        return "";
    }
    void expect_gone(const std::string& veth, const std::string& ip) {
        EXPECT_FALSE(std::filesystem::exists("/sys/class/net/" + veth)) << veth;
        EXPECT_FALSE(std::filesystem::exists(dir_ / "ipam/default" / ip));
        EXPECT_EQ(nat_rules().find(uuid_), std::string::npos) << nat_rules();
        EXPECT_FALSE(std::filesystem::exists(netns_));
        EXPECT_FALSE(std::filesystem::exists(dir_ / "pod/net-plan.json"));
    }

    TempDir dir_;
    std::string uuid_, netns_;
    std::unique_ptr<PodCleanup> cleanup_;
};

TEST_F(PodNetworkReal, AttachAndDetachDefault) {
    PortReservations ports;
    auto attached = attach_networks(spec(), ports);
    ASSERT_EQ(attached.size(), 1u);
    auto info = read_net_info(dir_ / "pod");
    ASSERT_EQ(info.size(), 1u);
    const std::string ip = info[0].ip;
    EXPECT_TRUE(ip.starts_with("172.16.28.")) << ip;
    EXPECT_EQ(info[0].mask, "255.255.255.0");
    EXPECT_EQ(info[0].gateway, "172.16.28.1");
    EXPECT_EQ(info[0].plugin_path, "/usr/lib/cni/ptp");
    std::string veth = host_veth(attached);
    ASSERT_FALSE(veth.empty());
    EXPECT_TRUE(std::filesystem::exists("/sys/class/net/" + veth)) << veth;
    EXPECT_NE(run_command_checked({"ip", "-n", "rkt-" + uuid_, "addr", "show", "eth0"}).find(ip),
              std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(dir_ / "ipam/default" / ip));
    EXPECT_NE(nat_rules().find(uuid_), std::string::npos) << "no masquerade rule for the pod";
    // Traffic between host and pod only: a listener in the pod's namespace, reached from here.
    UniqueFd listener;
    {
        NetnsEntry entry(netns_);
        listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(7777);
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener.get(), 1), 0);
    ASSERT_EQ(::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr), 1);
    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
        << "cannot reach the pod at " << ip << ":7777: " << std::strerror(errno);

    detach_networks(dir_ / "pod", {"/usr/lib/cni"});
    expect_gone(veth, ip);
    EXPECT_EQ(read_net_info(dir_ / "pod").size(), 1u);
    detach_networks(dir_ / "pod", {"/usr/lib/cni"});
}

TEST_F(PodNetworkReal, DetachFromTheFilesAloneAfterAKill) {
    // The attaching process dies without a word (as under kill -9); the files are all we have.
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        try {
            PortReservations ports;
            attach_networks(spec(), ports);
        } catch (...) {
            ::_exit(1);
        }
        ::kill(::getpid(), SIGKILL);
        ::_exit(2);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the attach failed in the child";
    auto info = read_net_info(dir_ / "pod");
    ASSERT_EQ(info.size(), 1u);
    std::string veth = host_veth(info);
    EXPECT_TRUE(std::filesystem::exists("/sys/class/net/" + veth));
    EXPECT_NE(nat_rules().find(uuid_), std::string::npos) << "no masquerade rule for the pod";

    detach_networks(dir_ / "pod", {"/usr/lib/cni"});
    expect_gone(veth, info[0].ip);
    detach_networks(dir_ / "pod", {"/usr/lib/cni"});
}

TEST_F(PodNetworkReal, NetnsWithoutPlanIsRemoved) {
    fs::write_file(dir_ / "pod/netns", netns_);
    EXPECT_TRUE(std::filesystem::exists(netns_));
    detach_networks(dir_ / "pod", {"/usr/lib/cni"});
    EXPECT_FALSE(std::filesystem::exists(netns_));
    detach_networks(dir_ / "pod", {"/usr/lib/cni"});
}

TEST_F(PodNetworkReal, NetnsEntryMovesTheThreadAndBack) {
    auto own = std::filesystem::read_symlink("/proc/thread-self/ns/net");
    {
        NetnsEntry entry(netns_);
        EXPECT_NE(std::filesystem::read_symlink("/proc/thread-self/ns/net"), own);
        // Only lo, and it is up.
        std::string links = run_command_checked({"ip", "-o", "link"});
        EXPECT_EQ(strings::split(strings::trim(links), '\n').size(), 1u) << links;
        EXPECT_NE(links.find("UP"), std::string::npos) << links;
    }
    EXPECT_EQ(std::filesystem::read_symlink("/proc/thread-self/ns/net"), own);
    EXPECT_THROW(create_netns(netns_), Error);  // exists already
}

}  // namespace
}  // namespace rkt::net
