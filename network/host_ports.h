// The host ports of a pod's --port forwards, held by sockets bound without SO_REUSEADDR, so a
// port in use is found before any network is added and no other process takes it meanwhile.
#pragma once

#include <vector>

#include "common/run_options.h"
#include "network/pod_network.h"

namespace rkt::net {

// Throws an Error "--port NAME: host port N is in use" (and the like) for the first port that
// cannot be had; `reservations` then holds none of the ports.
void reserve_host_ports(const std::vector<PortForward>& ports, PortReservations& reservations);

}  // namespace rkt::net
