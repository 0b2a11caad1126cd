#include "guest-init/net_config.h"

#include <dirent.h>
#include <errno.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"
#include "guest-init/netlink_socket.h"

namespace rkt::guest_init {

namespace {

using guest::InterfaceSpec;
using guest::IpAddress;
using guest::IpFamily;
using guest::IpPrefix;

// A NIC of the pod, found.
struct Netdev {
    const InterfaceSpec* spec;
    std::string current_name;
    int ifindex;
};

guest::IpPrefix must_parse_prefix(const std::string& s) {
    auto p = guest::parse_ip_prefix(s);
    if (!p) throw Error("\"" + strings::printable(s, 64) + "\" is not a CIDR prefix");
    return *p;
}

bool is_ipv6_link_local(const IpAddress& a) {
    return a.family == IpFamily::kV6 && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80;
}

int read_ifindex(const std::string& sys_class_net, const std::string& name) {
    std::string text = strings::trim(fs::read_file(sys_class_net + "/" + name + "/ifindex"));
    if (!strings::is_decimal(text) || text.size() > 9)
        throw Error(name + ": unexpected ifindex \"" + strings::printable(text, 20) + "\"");
    return std::stoi(text);
}

Netdev await_netdev(const InterfaceSpec& spec, const std::string& sys_class_net,
                    std::chrono::steady_clock::time_point deadline,
                    std::chrono::milliseconds timeout) {
    for (;;) {
        std::string name = find_netdev_by_mac(sys_class_net, spec.mac);
        if (!name.empty()) {
            // The device may vanish or be renamed between the two reads: look again then.
            try {
                return {&spec, name, read_ifindex(sys_class_net, name)};
            } catch (const Error&) {
                if (std::chrono::steady_clock::now() >= deadline) throw;
            }
        }
        if (std::chrono::steady_clock::now() >= deadline)
            throw Error(spec.name + ": no network interface has MAC " + spec.mac + " (waited " +
                        std::to_string(timeout.count()) + " ms; does the VM have its NIC?)");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace

std::string find_netdev_by_mac(const std::string& sys_class_net, const std::string& mac) {
    DIR* d = ::opendir(sys_class_net.c_str());
    if (!d) return {};
    std::string found;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == ".." || name == "lo") continue;
        auto address = fs::read_file_if_exists(sys_class_net + "/" + name + "/address");
        if (address && strings::to_lower(strings::trim(*address)) == mac) {
            found = name;
            break;
        }
    }
    ::closedir(d);
    return found;
}

bool gateway_needs_onlink(const InterfaceSpec& ifc, const IpAddress& gateway) {
    if (is_ipv6_link_local(gateway)) return false;
    for (const auto& r : ifc.routes) {
        if (!r.gateway.empty()) continue;
        auto dst = guest::parse_ip_prefix(r.destination);
        if (dst && guest::prefix_contains(*dst, gateway)) return false;
    }
    return true;
}

std::vector<Route> interface_routes(const InterfaceSpec& ifc) {
    std::vector<Route> link, via;
    for (const auto& r : ifc.routes) {
        Route route;
        route.destination = guest::network_of(must_parse_prefix(r.destination));
        route.metric = r.metric;
        if (r.gateway.empty()) {
            link.push_back(route);
            continue;
        }
        route.gateway = guest::parse_ip_address(r.gateway);
        if (!route.gateway)
            throw Error("\"" + strings::printable(r.gateway, 64) + "\" is not an IP address");
        route.onlink = gateway_needs_onlink(ifc, *route.gateway);
        via.push_back(route);
    }
    link.insert(link.end(), via.begin(), via.end());
    return link;
}

std::string describe_route(const Route& route) {
    std::string s = guest::format_ip_prefix(route.destination);
    if (route.gateway) s += " via " + guest::format_ip_address(*route.gateway);
    return s;
}

void configure_interfaces(const std::vector<InterfaceSpec>& interfaces,
                          std::chrono::milliseconds timeout, const std::string& sys_class_net) {
    if (interfaces.empty()) return;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<Netdev> devs;
    devs.reserve(interfaces.size());
    for (const auto& spec : interfaces)
        devs.push_back(await_netdev(spec, sys_class_net, deadline, timeout));

    NetlinkSocket nl;
    // Renaming needs the link down. Every link to be renamed first takes a temporary name that
    // no spec name can be (upper case), so that the kernel's names can be swapped: it may have
    // called the NIC of eth1 "eth0".
    for (auto& d : devs) {
        if (d.current_name == d.spec->name) continue;
        const std::string& name = d.spec->name;
        auto down = link_change_message(d.ifindex, {.up = false});
        nl.request(down, name + ": cannot take " + d.current_name + " down to rename it");
        std::string temporary = "RKT" + std::to_string(d.ifindex);
        auto rename = link_change_message(d.ifindex, {.name = temporary});
        nl.request(rename, name + ": cannot rename " + d.current_name + " to " + temporary);
        d.current_name = temporary;
    }
    for (auto& d : devs) {
        const std::string& name = d.spec->name;
        if (d.current_name != name) {
            auto rename = link_change_message(d.ifindex, {.name = name});
            nl.request(rename, name + ": cannot rename " + d.current_name + " to " + name);
            d.current_name = name;
        }
        auto mtu = link_change_message(d.ifindex, {.mtu = d.spec->mtu});
        nl.request(mtu, name + ": cannot set MTU " + std::to_string(d.spec->mtu));
        for (const auto& a : d.spec->addresses) {
            auto add = address_add_message(d.ifindex, must_parse_prefix(a));
            nl.request(add, name + ": cannot add address " + a);
        }
        auto up = link_change_message(d.ifindex, {.up = true});
        nl.request(up, name + ": cannot bring it up");
    }
    // Routes last: a route needs its interface up, and one via a gateway may need a link route
    // of its interface (interface_routes puts those first; all interfaces' before any gateway's).
    struct Pending {
        const Netdev* dev;
        Route route;
    };
    std::vector<Pending> link, via;
    for (const auto& d : devs)
        for (const auto& r : interface_routes(*d.spec)) (r.gateway ? via : link).push_back({&d, r});
    link.insert(link.end(), via.begin(), via.end());
    for (const auto& p : link) {
        auto add = route_add_message(p.dev->ifindex, p.route);
        // EEXIST: the kernel has this very route already (IPv6's fe80::/64).
        nl.request(add, p.dev->spec->name + ": cannot add route " + describe_route(p.route),
                   EEXIST);
    }
}

}  // namespace rkt::guest_init
