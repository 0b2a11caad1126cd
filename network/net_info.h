// net-info.json: what each network gave the pod, in rkt's layout, for `rkt list`/`rkt status`.
#pragma once

#include <filesystem>
#include <vector>

#include "network/pod_network.h"

namespace rkt::net {

inline constexpr const char* kNetInfoFile = "net-info.json";

// Written atomically, mode 0644 (`rkt list` may run as another user).
void write_net_info(const std::filesystem::path& pod_dir,
                    const std::vector<AttachedNetwork>& networks);

// The AttachedNetwork of a chain's final result: its first IPv4 address (one on an interface of
// the pod's namespace if the result says which), its mask and gateway.
AttachedNetwork describe_network(const std::string& name, const std::string& source,
                                 const std::string& plugin_path, const std::string& if_name,
                                 const std::string& args, const CniResult& result);

}  // namespace rkt::net
