// A pod's CNI networks, from start to collection: ADD of each network into the pod's network
// namespace (eth0, eth1, ...), the port forwards (the portmap plugin, chained to the network
// that masquerades, else the last), the results in the pod directory (net-info.json, with rkt's
// fields), and DEL of everything again, which is idempotent and works after a crash.
//
// Files in the pod directory:
//   netns          the path of the pod's network namespace (rkt's)
//   net-info.json  what each network gave the pod (read by `rkt list` / `rkt status`); stays
//                  after the pod's end
//   net-plan.json  what has to be DEL'd: written before each ADD, removed when all DELs are
//                  done
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/run_options.h"
#include "common/unique_fd.h"
#include "network/cni_result.h"
#include "network/net_config.h"
#include "network/net_selection.h"

namespace rkt::net {

struct AttachedNetwork {  // one entry of net-info.json
    // rkt's fields
    std::string net_name;
    std::string net_conf;     // the file of its config ("built-in" for rkt's own)
    std::string plugin_path;  // the first plugin of the chain
    std::string if_name;      // eth0, ...
    std::string ip;           // the first IPv4 address, without prefix ("" when none)
    std::string mask;         // its netmask, "255.255.255.0"
    std::string args;         // CNI_ARGS
    // beyond rkt's
    std::string gateway;
    CniResult result;  // the chain's final result
};

struct PodNetworkSpec {
    std::string uuid;
    std::filesystem::path pod_dir;
    std::string netns;  // the pod's network namespace (netns.h), already there
    std::vector<NetRequest> networks;
    std::vector<PortForward> ports;
    ConfigSources configs;
    std::vector<std::string> cni_path;
    std::chrono::milliseconds plugin_timeout{30'000};
};

// What the pod holds while its networks are up: sockets bound to the forwarded host ports (so no
// other process takes them while the pod runs; traffic reaches the pod through the DNAT rules,
// never these sockets).
struct PortReservations {
    std::vector<UniqueFd> sockets;
};

// ADDs every network in order and writes net-info.json. Every config, plugin and port is checked
// before the first ADD (unknown network, missing plugin, host port in use). On any failure the
// networks already added are DEL'd, and the Error says which network and plugin failed.
std::vector<AttachedNetwork> attach_networks(const PodNetworkSpec& spec,
                                             PortReservations& reservations);

// DELs whatever net-plan.json in `pod_dir` records, in reverse order, then removes the network
// namespace named in `netns`. Nothing recorded: nothing to do. Keeps net-info.json. Throws an
// Error only when a DEL failed (the plan is kept, so a later call tries again).
void detach_networks(const std::filesystem::path& pod_dir, const std::vector<std::string>& cni_path,
                     std::chrono::milliseconds plugin_timeout = std::chrono::seconds(30));

// net-info.json of a pod ([] when absent or unreadable).
std::vector<AttachedNetwork> read_net_info(const std::filesystem::path& pod_dir);

// "default:ip4=172.16.28.7" for each network with an IPv4 address, as `rkt status` prints them.
std::string networks_summary(const std::vector<AttachedNetwork>& networks, const std::string& sep);

}  // namespace rkt::net
