// The pod's network: the host's (--net=host), loopback only (--net=none), or CNI networks
// (network/pod_network.h) added to the network namespace the pod init created, which is kept at
// /run/netns/rkt-<uuid> so that `gc` can still DEL the networks after a crash.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "network/net_selection.h"
#include "network/pod_network.h"
#include "network/stage1_networking.h"
#include "stage1-nspawn/pod.h"

namespace rkt::nspawn::network {

struct Plan {
    bool host = false;  // share the host's network namespace
    net::NetSelection selection;
};

// Reads the --net list; throws an Error for a bad one (network/net_selection.h).
Plan plan(const std::vector<std::string>& net);

// What the pod holds while it runs: its networks (given back when this goes), the host ports it
// forwards.
struct PodNetworks {
    std::optional<net::NetworkLease> lease;
    net::PortReservations ports;
    std::vector<net::AttachedNetwork> attached;
};

// Host side, after the pod init created its network namespace (/proc/<pod_init>/ns/net) and
// before any app starts. Writes net-info.json.
void setup(const Pod& pod, const Plan& plan, pid_t pod_init, PodNetworks& out);

// In the pod's new network namespace: brings the loopback interface up.
void bring_up_loopback();

// From gc: DELs what setup() added, if `run` could not, and removes the namespace.
void teardown(const Pod& pod);

}  // namespace rkt::nspawn::network
