// Network configurations: CNI (spec 1.0.0) .conf and .conflist files under
// <local-config>/net.d and <system-config>/net.d, and rkt's built-in `default` and
// `default-restricted`. Every config is kept as a conflist (a .conf becomes a chain of one).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace rkt::net {

struct NetworkConfig {
    std::string name;
    std::string source;    // the file it came from, or "built-in"
    nlohmann::json list;   // {"cniVersion", "name", "plugins": [...]}, normalized
    bool ip_masq = false;  // some plugin of the chain masquerades (port forwarding prefers it)
};

struct ConfigSources {
    std::filesystem::path local_config;  // <local-config>: net.d/ there wins over the system's
    std::filesystem::path system_config;
    // host-local IPAM keeps its leases here (under the data directory) unless a config names its
    // own dataDir.
    std::filesystem::path ipam_data_dir;
};

// Every network found, by name: the built-ins, then the system's files, then the local ones (a
// later one of the same name replaces an earlier one; files are read in lexical order, and two
// files of one directory defining the same name are not an error: the later wins, with a
// warning). *.conf, *.conflist and *.json are read; a file holding "plugins" is a conflist,
// else a single plugin's config. A config without "cniVersion" gets "1.0.0". Missing
// directories are fine. Throws an Error naming the file for one that doesn't parse, lacks
// name/type, names a plugin type that is not a plain file name, or is larger than 1 MiB.
std::map<std::string, NetworkConfig> load_network_configs(const ConfigSources& sources);

// The built-in networks' CNI configs (rkt's): `default` is ptp with IP masquerade on host-local
// 172.16.28.0/24 and a default route; `default-restricted` is ptp on 172.31.0.0/16 with no
// route beyond the host and no masquerade.
NetworkConfig builtin_network(const std::string& name, const std::filesystem::path& ipam_data_dir);

}  // namespace rkt::net
