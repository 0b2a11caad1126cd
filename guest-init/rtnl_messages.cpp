#include "guest-init/rtnl_messages.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

namespace rkt::guest_init {

namespace {

unsigned char address_family(guest::IpFamily f) {
    return f == guest::IpFamily::kV4 ? AF_INET : AF_INET6;
}

}  // namespace

NetlinkMessage link_change_message(int ifindex, const LinkChange& change) {
    NetlinkMessage m(RTM_NEWLINK, 0);
    ifinfomsg info{};
    info.ifi_family = AF_UNSPEC;
    info.ifi_index = ifindex;
    if (change.up) {
        info.ifi_change = IFF_UP;
        info.ifi_flags = *change.up ? IFF_UP : 0;
    }
    m.put_header(info);
    if (change.name) m.add_string(IFLA_IFNAME, *change.name);
    if (change.mtu) m.add_u32(IFLA_MTU, *change.mtu);
    return m;
}

NetlinkMessage address_add_message(int ifindex, const guest::IpPrefix& address) {
    NetlinkMessage m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
    const bool v6 = address.address.family == guest::IpFamily::kV6;
    uint32_t flags = IFA_F_NOPREFIXROUTE | (v6 ? IFA_F_NODAD : 0);
    ifaddrmsg a{};
    a.ifa_family = address_family(address.address.family);
    a.ifa_prefixlen = static_cast<unsigned char>(address.length);
    a.ifa_flags = static_cast<unsigned char>(flags & 0xff);  // the old 8-bit field; IFA_FLAGS rules
    a.ifa_scope = RT_SCOPE_UNIVERSE;
    a.ifa_index = static_cast<unsigned>(ifindex);
    m.put_header(a);
    const auto& bytes = address.address.bytes;
    m.add_attribute(IFA_LOCAL, bytes.data(), address.address.size());
    m.add_attribute(IFA_ADDRESS, bytes.data(), address.address.size());
    m.add_u32(IFA_FLAGS, flags);
    return m;
}

NetlinkMessage route_add_message(int ifindex, const Route& route) {
    NetlinkMessage m(RTM_NEWROUTE, NLM_F_CREATE);
    const guest::IpAddress& dst = route.destination.address;
    rtmsg r{};
    r.rtm_family = address_family(dst.family);
    r.rtm_dst_len = static_cast<unsigned char>(route.destination.length);
    r.rtm_table = RT_TABLE_MAIN;
    r.rtm_protocol = RTPROT_STATIC;
    r.rtm_scope = route.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    r.rtm_type = RTN_UNICAST;
    r.rtm_flags = route.onlink ? RTNH_F_ONLINK : 0;
    m.put_header(r);
    if (route.destination.length > 0) m.add_attribute(RTA_DST, dst.bytes.data(), dst.size());
    if (route.gateway)
        m.add_attribute(RTA_GATEWAY, route.gateway->bytes.data(), route.gateway->size());
    m.add_u32(RTA_OIF, static_cast<uint32_t>(ifindex));
    if (route.metric != 0) m.add_u32(RTA_PRIORITY, route.metric);
    return m;
}

}  // namespace rkt::guest_init
