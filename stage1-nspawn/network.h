// The pod's network. Today: the host's network (--net=host) or a network namespace of its own
// with only loopback. CNI networks (rkt's `default` ptp network and named ones) plug in here:
// setup() runs on the host once the pod's namespaces exist, teardown() from `gc`.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "stage1-nspawn/pod.h"

namespace rkt::nspawn::network {

struct Plan {
    bool host = false;                  // share the host's network namespace
    std::vector<std::string> networks;  // the --net list, for CNI
};

// Reads the --net list ("host", "none", "default", names with ":ARGS"); throws an Error for a
// list that mixes "host" or "none" with anything else.
Plan plan(const std::vector<std::string>& net);

// Host side, after the pod init created its network namespace (/proc/<pod_init>/ns/net) and
// before any app starts. Writes net-info.json.
void setup(const Pod& pod, const Plan& plan, pid_t pod_init);

// In the pod's new network namespace: brings the loopback interface up.
void bring_up_loopback();

// From gc: releases what setup() took on the host (nothing yet).
void teardown(const Pod& pod);

}  // namespace rkt::nspawn::network
