// The pod's network interfaces inside the guest (PodSpec::interfaces), set up before any app
// starts: each virtio-net NIC is found by its MAC, renamed, given its MTU and addresses (without
// prefix routes) and brought up; then, with every interface up, the routes are added — the
// table the CNI plugins left in the pod's network namespace on the host.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/guest_protocol.h"
#include "guest-init/rtnl_messages.h"

namespace rkt::guest_init {

// virtio-net devices are probed while guest-init starts: how long to wait for one to appear.
inline constexpr std::chrono::milliseconds kInterfaceTimeout{5000};

// Throws rkt::Error naming the interface and the step ("eth0: cannot add route 0.0.0.0/0 via
// 172.16.28.1: Network is unreachable"). `sys_class_net` lists the netdevs: /sys/class/net, or
// a test's own sysfs (sysfs shows the network namespace of whoever mounted it).
void configure_interfaces(const std::vector<guest::InterfaceSpec>& interfaces,
                          std::chrono::milliseconds timeout = kInterfaceTimeout,
                          const std::string& sys_class_net = "/sys/class/net");

// ---- the pure parts ----

// The name of the netdev under `sys_class_net` whose address is `mac` (lower-case), or "".
std::string find_netdev_by_mac(const std::string& sys_class_net, const std::string& mac);

// Whether a route of `ifc` via `gateway` must be added with RTNH_F_ONLINK. The addresses have no
// prefix routes, so the kernel can reach a gateway only through one of the interface's own
// routes without a gateway (added first), or, for IPv6, through fe80::/64, which the kernel
// adds itself: any other gateway is declared on the link, whatever the addresses' subnets say.
bool gateway_needs_onlink(const guest::InterfaceSpec& ifc, const guest::IpAddress& gateway);

// The routes of `ifc` as the kernel is asked for them: destinations with host bits cleared,
// onlink decided, those without a gateway first (a gateway route needs them), otherwise in the
// spec's order. The spec must have been validated.
std::vector<Route> interface_routes(const guest::InterfaceSpec& ifc);

// "0.0.0.0/0 via 172.16.28.1", "172.16.28.1/32": how errors name a route.
std::string describe_route(const Route& route);

}  // namespace rkt::guest_init
