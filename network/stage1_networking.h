// What the nspawn and kvm stage1s share around a pod's networks: the PodNetworkSpec from the run
// options, and a lease that gives the networks back when `run` ends, however it ends (`gc` does
// it again for a `run` that was killed: detaching is idempotent).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/resolv_conf.h"
#include "common/run_options.h"
#include "network/net_selection.h"
#include "network/pod_network.h"

namespace rkt::net {

// <data-dir>/networks/ipam: host-local's leases (the pod directory is
// <data-dir>/pods/<state>/<uuid>).
std::filesystem::path ipam_dir_of_pod(const std::filesystem::path& pod_dir);

// How long one plugin may run: RKT_CNI_TIMEOUT seconds (1..3600), else 30 s.
std::chrono::milliseconds plugin_timeout();

PodNetworkSpec pod_network_spec(const RunOptions& options, const NetSelection& selection,
                                const std::string& uuid, const std::filesystem::path& pod_dir,
                                const std::string& netns);

// The DNS of the first network whose result carries name servers, and that network's name
// (common/resolv_conf.h decides whether the pod uses it); nullopt when none does.
struct NetworkDns {
    ResolvConf conf;
    std::string network;
};
std::optional<NetworkDns> dns_of_networks(const std::vector<AttachedNetwork>& networks);

class NetworkLease {
public:
    NetworkLease(std::filesystem::path pod_dir, std::vector<std::string> cni_path,
                 std::string netns);
    ~NetworkLease();
    NetworkLease(const NetworkLease&) = delete;
    NetworkLease& operator=(const NetworkLease&) = delete;

    // DELs the networks and removes the namespace now; errors are logged, not thrown (the pod
    // has ended; `gc` tries again).
    void release() noexcept;

private:
    std::filesystem::path pod_dir_;
    std::vector<std::string> cni_path_;
    std::string netns_;
    bool released_ = false;
};

}  // namespace rkt::net
