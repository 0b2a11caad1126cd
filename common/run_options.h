// Pod options that are not part of the PodManifest; stage0 writes them to
// <pod>/run-options.json and every stage1 reads them (docs/architecture.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rkt {

// A --port of the pod, resolved by stage0 against the ports its apps' images expose.
struct PortForward {
    std::string name;              // the appc port name (an OCI "80/tcp" is "80-tcp")
    std::string protocol = "tcp";  // tcp or udp
    uint16_t pod_port = 0;         // the port the app listens on
    std::string host_ip;           // empty: every address of the host
    uint16_t host_port = 0;
    bool operator==(const PortForward&) const = default;
};

struct RunOptions {
    std::string hostname;
    std::vector<std::string> net = {"default"};
    std::vector<std::string> dns;          // --dns: IPs, or "host" / "none"
    std::vector<std::string> dns_search;   // --dns-search
    std::vector<std::string> dns_options;  // --dns-opt
    std::string dns_domain;                // --dns-domain
    std::vector<std::string> hosts_entries;
    std::vector<PortForward> ports;
    // Where the stage1s find network configs (<dir>/net.d) and CNI plugins.
    std::string local_config = "/etc/rkt";
    std::string system_config = "/usr/lib/rkt";
    std::vector<std::string> cni_path = {"/usr/lib/cni"};
    std::vector<std::string> insecure_options;
    bool interactive = false;
    bool debug = false;
    std::string engine;
    std::optional<uint64_t> memory;      // sum of the apps' memory limits, bytes
    std::optional<uint64_t> cpu_millis;  // sum of the apps' CPU limits
    // "SHIFT:COUNT" (common/id_shift.h) when the pod runs in a user namespace, else empty.
    std::string private_users;

    nlohmann::json to_json() const;
    static RunOptions from_json(const nlohmann::json& j);
};

// Reads <pod_dir>/run-options.json (defaults when absent).
RunOptions load_run_options(const std::string& pod_dir);

}  // namespace rkt
