// The pod's /etc/hostname, /etc/hosts and /etc/resolv.conf, as rkt made them: generated in the
// pod directory (etc/) or taken from the host, then bind-mounted into each app.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/resolv_conf.h"
#include "stage1-nspawn/pod.h"

namespace rkt::nspawn {

struct EtcFile {
    stdfs::path source;
    bool read_only = false;
};

struct EtcFiles {
    EtcFile hostname;
    // --hosts-entry given: every app gets this file. Otherwise `hosts_fallback` is used only by
    // apps whose image has no /etc/hosts.
    std::optional<EtcFile> hosts;
    EtcFile hosts_fallback;
    std::optional<EtcFile> resolv_conf;  // nullopt: the image's own file
};

// Writes the generated files into pod.etc_dir() and decides what each app gets. `network_dns` is
// what a CNI network returned (used when no --dns flag is given, common/resolv_conf.h). Throws an
// Error naming a malformed --hosts-entry or --dns value.
EtcFiles prepare_etc_files(const Pod& pod, const std::string& hostname, bool host_network,
                           const std::optional<ResolvConf>& network_dns = std::nullopt,
                           const std::string& network_name = "");

// The text of the generated hosts file (exposed for tests; resolv.conf: common/resolv_conf.h).
std::string hosts_text(const std::string& hostname, const std::vector<std::string>& entries);

}  // namespace rkt::nspawn
