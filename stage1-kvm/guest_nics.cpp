#include "stage1-kvm/guest_nics.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "common/process.h"
#include "network/netns.h"
#include "vmm/vm_config.h"

namespace rkt::kvm {

namespace {

using nlohmann::json;

ifreq request_for(const std::string& name) {
    ifreq req{};
    if (name.empty() || name.size() >= IFNAMSIZ) throw Error("bad interface name \"" + name + "\"");
    std::memcpy(req.ifr_name, name.data(), name.size());
    return req;
}

std::array<uint8_t, 6> mac_of(int sock, const std::string& name) {
    ifreq req = request_for(name);
    if (::ioctl(sock, SIOCGIFHWADDR, &req) != 0)
        throw system_error(name + ": cannot read its MAC address");
    std::array<uint8_t, 6> mac{};
    std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, mac.size());
    return mac;
}

uint32_t mtu_of(int sock, const std::string& name) {
    ifreq req = request_for(name);
    if (::ioctl(sock, SIOCGIFMTU, &req) != 0) throw system_error(name + ": cannot read its MTU");
    return static_cast<uint32_t>(req.ifr_mtu);
}

void set_mtu_and_up(int sock, const std::string& name, uint32_t mtu) {
    ifreq req = request_for(name);
    req.ifr_mtu = static_cast<int>(mtu);
    if (::ioctl(sock, SIOCSIFMTU, &req) != 0) throw system_error(name + ": cannot set its MTU");
    req = request_for(name);
    if (::ioctl(sock, SIOCGIFFLAGS, &req) != 0) throw system_error(name + ": cannot read flags");
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
    if (::ioctl(sock, SIOCSIFFLAGS, &req) != 0) throw system_error(name + ": cannot bring it up");
}

// Opened while in the pod's namespace, so the tap is made there.
UniqueFd create_tap(const std::string& name) {
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd) throw system_error("cannot open /dev/net/tun (is the tun module there?)");
    ifreq req = request_for(name);
    req.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(fd.get(), TUNSETIFF, &req) != 0) throw system_error("cannot create tap " + name);
    return fd;
}

std::string run_tool(const std::vector<std::string>& argv) {
    SpawnOptions o;
    o.capture_stdout = true;
    o.capture_stderr = true;
    CommandResult r = run_command(argv, o);
    if (r.exit_code != 0) {
        std::string out = r.output;
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        throw Error(argv[0] + " " + argv[1] + " failed: " + out.substr(0, 300));
    }
    return r.output;
}

// Every frame arriving on `from` leaves through `to`. matchall is the plain way; kernels without
// it (the development hosts') have u32, whose empty match takes everything too.
void redirect(const std::string& from, const std::string& to) {
    run_tool({"tc", "qdisc", "add", "dev", from, "ingress"});
    SpawnOptions quiet;
    quiet.capture_stdout = true;
    quiet.capture_stderr = true;
    if (run_command({"tc", "filter", "add", "dev", from, "parent", "ffff:", "matchall", "action",
                     "mirred", "egress", "redirect", "dev", to},
                    quiet)
            .exit_code == 0)
        return;
    run_tool(
        {"tc",    "filter", "add", "dev", from,     "parent", "ffff:",  "protocol", "all", "u32",
         "match", "u32",    "0",   "0",   "action", "mirred", "egress", "redirect", "dev", to});
}

json parse_tool_json(const std::string& text, const std::string& what) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_array()) throw Error(what + ": unexpected output of ip");
    return j;
}

// The addresses the plugins gave `name` (global scope: not the link-local one the kernel adds).
std::vector<std::string> addresses_of(const std::string& name) {
    json links = parse_tool_json(run_tool({"ip", "-j", "addr", "show", "dev", name}), name);
    std::vector<std::string> out;
    for (const auto& link : links) {
        if (!link.contains("addr_info") || !link["addr_info"].is_array()) continue;
        for (const auto& a : link["addr_info"]) {
            if (a.value("scope", "") != "global" || !a.contains("local") ||
                !a.contains("prefixlen"))
                continue;
            out.push_back(a["local"].get<std::string>() + "/" +
                          std::to_string(a["prefixlen"].get<int>()));
        }
    }
    return out;
}

std::string cidr_of(const std::string& dst, bool v6) {
    if (dst == "default") return v6 ? "::/0" : "0.0.0.0/0";
    if (dst.find('/') == std::string::npos) return dst + (v6 ? "/128" : "/32");
    return dst;
}

// The routes through `name`, as the plugins left them (the kernel's own IPv6 link-local and
// multicast routes aside).
std::vector<guest::RouteSpec> routes_of(const std::string& name) {
    std::vector<guest::RouteSpec> out;
    for (bool v6 : {false, true}) {
        json routes = parse_tool_json(
            run_tool({"ip", v6 ? "-6" : "-4", "-j", "route", "show", "table", "main", "dev", name}),
            name);
        for (const auto& r : routes) {
            std::string dst = r.value("dst", "");
            if (dst.empty() || r.value("type", "unicast") != "unicast") continue;
            if (v6 && (dst.rfind("fe80:", 0) == 0 || dst.rfind("ff00:", 0) == 0)) continue;
            guest::RouteSpec route;
            route.destination = cidr_of(dst, v6);
            route.gateway = r.value("gateway", "");
            if (r.contains("metric") && r["metric"].is_number_unsigned())
                route.metric = r["metric"].get<uint32_t>();
            out.push_back(std::move(route));
        }
    }
    return out;
}

}  // namespace

std::vector<GuestNic> make_guest_nics(const std::string& netns,
                                      const std::vector<std::string>& interfaces) {
    net::NetnsEntry inside(netns);
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) throw system_error("cannot open a socket in the pod's network namespace");
    std::vector<GuestNic> nics;
    for (size_t i = 0; i < interfaces.size(); ++i) {
        const std::string& veth = interfaces[i];
        with_context("interface " + veth, [&] {
            GuestNic nic;
            std::string tap = "tap" + std::to_string(i);
            nic.mac = mac_of(sock.get(), veth);
            nic.spec.name = veth;
            nic.spec.mac = vmm::format_mac(nic.mac);
            nic.spec.mtu = mtu_of(sock.get(), veth);
            nic.tap = create_tap(tap);
            set_mtu_and_up(sock.get(), tap, nic.spec.mtu);
            redirect(veth, tap);
            redirect(tap, veth);
            nic.spec.addresses = addresses_of(veth);
            nic.spec.routes = routes_of(veth);
            log::debug(veth + " (" + nic.spec.mac + ") redirected to " + tap);
            nics.push_back(std::move(nic));
        });
    }
    return nics;
}

}  // namespace rkt::kvm
