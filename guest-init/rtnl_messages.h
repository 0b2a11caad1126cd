// The rtnetlink requests that configure a pod interface: change a link (name, MTU, up), add an
// address, add a route. Built here, sent by NetlinkSocket (netlink_socket.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/guest_protocol/ip_prefix.h"
#include "guest-init/netlink_socket.h"

namespace rkt::guest_init {

struct LinkChange {
    std::optional<std::string> name;  // rename (the link must be down)
    std::optional<uint32_t> mtu;
    std::optional<bool> up;  // set or clear IFF_UP; nullopt leaves the flags alone
};

// RTM_NEWLINK on an existing link (no NLM_F_CREATE): what `ip link set` sends.
NetlinkMessage link_change_message(int ifindex, const LinkChange& change);

// RTM_NEWADDR with IFA_F_NOPREFIXROUTE (the routes come from the pod spec, none from the
// kernel) and, for IPv6, IFA_F_NODAD: the pod's link is a point-to-point pair with the host, so
// duplicate detection finds nothing and would only hold the address back from apps for a second.
NetlinkMessage address_add_message(int ifindex, const guest::IpPrefix& address);

struct Route {
    guest::IpPrefix destination;  // host bits cleared
    std::optional<guest::IpAddress> gateway;
    uint32_t metric = 0;  // 0: the kernel's default (IPv6: 1024)
    bool onlink = false;  // the gateway is on the link though no route says so
    bool operator==(const Route&) const = default;
};

// RTM_NEWROUTE in the main table: scope link without a gateway, universe with one. Created (not
// replacing: two interfaces may have routes to one destination, as on the host); the kernel
// answers EEXIST for a route that is already there exactly so, e.g. IPv6's fe80::/64 that it
// makes itself when the link comes up.
NetlinkMessage route_add_message(int ifindex, const Route& route);

}  // namespace rkt::guest_init
