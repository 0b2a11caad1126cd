// The network flags of run / prepare / run-prepared, checked before any pod exists: --net,
// --dns*, --hosts-entry, --port (parsed here, resolved against the pod's apps once its manifest
// is built), and what the chosen stage1 can do with them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/pod_manifest.h"
#include "common/run_options.h"
#include "stage0/stage1.h"

namespace rkt {

// --net values as given (each may hold a comma list) → the list the stage1 gets, checked by
// network/net_selection.h (host/none alone, no name twice, names and K=V arguments
// well-formed); "default" when only empty values were given. No value at all stays empty ("not
// given").
std::vector<std::string> normalize_net_flag(const std::vector<std::string>& values);

// "host" or "none" when that is the whole selection, else "".
std::string special_net(const std::vector<std::string>& net);

// --port=NAME:[HOSTIP:]HOSTPORT (an IPv6 HOSTIP in brackets).
struct PortFlag {
    std::string name;
    std::string host_ip;
    uint16_t host_port = 0;
    bool operator==(const PortFlag&) const = default;
};
PortFlag parse_port_flag(const std::string& value);

// Each --port matched by name against the ports the pod's apps expose; two forwards of one
// host port (protocol, address) are refused.
std::vector<PortForward> resolve_port_flags(const std::vector<std::string>& values,
                                            const PodManifest& manifest);

// An OCI image's ExposedPorts ("80/tcp", "53/udp", "8080") as appc ports, named as docker2aci
// named them ("80-tcp"); entries that are not a port of tcp or udp are skipped.
std::vector<PortSpec> ports_from_exposed(const std::vector<std::string>& exposed);

// Every network flag of the pod, before any image work. `net` is normalize_net_flag's result
// (empty: not given); `ports` the raw --port values.
void check_network_flags(const std::vector<std::string>& net, const std::vector<std::string>& ports,
                         const RunOptions& dns_and_hosts);

// What the stage1 cannot do: fly has no network of its own (only the host's, no port forwards,
// no generated resolv.conf or hosts file). `net_given` says whether the user chose the network.
void check_stage1_network(const Stage1& stage1, const std::vector<std::string>& net, bool net_given,
                          bool has_ports, const RunOptions& dns_and_hosts);

}  // namespace rkt
