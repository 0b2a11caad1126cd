// What --net asks for: the host's network, none (loopback only), or CNI networks by name, each
// with its CNI_ARGS ("default", "mynet:IP=10.1.2.3;K=V"). Parsed the same way by stage0 (to
// refuse a bad list before a pod exists) and by the nspawn and kvm stage1s.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rkt::net {

struct NetRequest {
    std::string name;  // a network name, as in its config ("default", "default-restricted", ...)
    std::string args;  // CNI_ARGS as given after ':' (K=V;K2=V2), "" when none
    std::string ip;    // the IP= argument, if any (checked against the subnet by host-local)
    bool operator==(const NetRequest&) const = default;
};

struct NetSelection {
    enum class Kind { kHost, kNone, kNetworks };
    Kind kind = Kind::kNetworks;
    std::vector<NetRequest> networks;  // kNetworks: in order; network i is eth<i> in the pod
};

// Reads --net values (each may hold several comma-separated entries; "" or no value at all is
// "default"). Throws an Error with rkt's message for: host/none mixed with other networks, a
// name given twice, a bad name, a malformed argument, an IP= that is not an address.
NetSelection parse_net_selection(const std::vector<std::string>& values);

// A CNI network name: letters, digits, '_', '.' and '-', starting with a letter or digit, at
// most 128 characters.
bool is_valid_network_name(std::string_view name);

}  // namespace rkt::net
