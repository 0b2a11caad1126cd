// The kvm pod's NICs, host side. The CNI plugins configured a veth (eth0, eth1, ...) in the pod's
// network namespace as if the pod were a container; the VM cannot use a veth, so each one gets
// a tap beside it in that namespace (tap0, ...) and tc redirects every frame between the two,
// both ways. The plugins stay unmodified, their rules and routes see the veth, and the guest's
// NIC carries the veth's MAC, so the frames the host's side addresses to the veth reach the
// guest. What the plugins set on the veth (addresses, routes, MTU) is read back from the
// namespace and becomes the guest's InterfaceSpec: guest-init sets the same.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/guest_protocol.h"
#include "common/unique_fd.h"

namespace rkt::kvm {

struct GuestNic {
    guest::InterfaceSpec spec;  // what guest-init sets up
    std::array<uint8_t, 6> mac{};
    UniqueFd tap;  // IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; the VMM serves it
};

// In the network namespace at `netns`: for each interface name (the veths the CNI plugins made),
// a tap with the veth's MTU, the redirect both ways, and the guest's spec. Throws an Error
// naming the interface and the step that failed.
std::vector<GuestNic> make_guest_nics(const std::string& netns,
                                      const std::vector<std::string>& interfaces);

}  // namespace rkt::kvm
