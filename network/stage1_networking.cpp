#include "network/stage1_networking.h"

#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "network/netns.h"

namespace rkt::net {

std::filesystem::path ipam_dir_of_pod(const std::filesystem::path& pod_dir) {
    return pod_dir.parent_path().parent_path().parent_path() / "networks" / "ipam";
}

std::chrono::milliseconds plugin_timeout() {
    const char* text = std::getenv("RKT_CNI_TIMEOUT");
    if (!text || !*text) return std::chrono::seconds(30);
    if (!strings::is_decimal(text) || std::strlen(text) > 4 || std::atoi(text) < 1 ||
        std::atoi(text) > 3600)
        throw Error("RKT_CNI_TIMEOUT must be a number of seconds (1..3600)");
    return std::chrono::seconds(std::atoi(text));
}

PodNetworkSpec pod_network_spec(const RunOptions& options, const NetSelection& selection,
                                const std::string& uuid, const std::filesystem::path& pod_dir,
                                const std::string& netns) {
    PodNetworkSpec spec;
    spec.uuid = uuid;
    spec.pod_dir = pod_dir;
    spec.netns = netns;
    spec.networks = selection.networks;
    spec.ports = options.ports;
    spec.configs.local_config = options.local_config;
    spec.configs.system_config = options.system_config;
    spec.configs.ipam_data_dir = ipam_dir_of_pod(pod_dir);
    spec.cni_path = options.cni_path;
    spec.plugin_timeout = plugin_timeout();
    return spec;
}

std::optional<NetworkDns> dns_of_networks(const std::vector<AttachedNetwork>& networks) {
    for (const auto& n : networks) {
        if (n.result.dns.nameservers.empty()) continue;
        ResolvConf conf;
        conf.nameservers = n.result.dns.nameservers;
        conf.search = n.result.dns.search;
        conf.options = n.result.dns.options;
        conf.domain = n.result.dns.domain;
        return NetworkDns{std::move(conf), n.net_name};
    }
    return std::nullopt;
}

NetworkLease::NetworkLease(std::filesystem::path pod_dir, std::vector<std::string> cni_path,
                           std::string netns)
    : pod_dir_(std::move(pod_dir)), cni_path_(std::move(cni_path)), netns_(std::move(netns)) {}

NetworkLease::~NetworkLease() {
    release();
}

void NetworkLease::release() noexcept {
    if (released_) return;
    released_ = true;
    try {
        detach_networks(pod_dir_, cni_path_, plugin_timeout());
    } catch (const std::exception& e) {
        log::warn(std::string("the pod's networks were not all released (rkt gc tries again): ") +
                  e.what());
        return;  // the namespace stays: a later DEL needs it
    }
    try {
        remove_netns(netns_);
    } catch (const std::exception& e) {
        log::warn(std::string("cannot remove the pod's network namespace: ") + e.what());
    }
}

}  // namespace rkt::net
