// A CNI ADD result (spec 1.0.0; 0.3.x/0.4.0 results read the same way), read as hostile input:
// sizes bounded, every address parsed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rkt::net {

struct CniInterface {
    std::string name;
    std::string mac;      // "aa:bb:cc:dd:ee:ff" or ""
    std::string sandbox;  // the netns path when the interface is the pod's
};

struct CniIp {
    std::string address;  // CIDR, "172.16.28.5/24"
    std::string gateway;  // "" when none
    std::optional<size_t> interface;
};

struct CniRoute {
    std::string dst;  // CIDR
    std::string gw;   // "" when none
};

struct CniDns {
    std::vector<std::string> nameservers;
    std::string domain;
    std::vector<std::string> search;
    std::vector<std::string> options;
    bool empty() const { return nameservers.empty() && domain.empty() && search.empty(); }
};

struct CniResult {
    std::string cni_version;
    std::vector<CniInterface> interfaces;
    std::vector<CniIp> ips;
    std::vector<CniRoute> routes;
    CniDns dns;
    nlohmann::json raw;  // as the plugin printed it (the prevResult of later calls)
};

// Throws an Error saying what is wrong with the result.
CniResult parse_cni_result(const nlohmann::json& j);

}  // namespace rkt::net
