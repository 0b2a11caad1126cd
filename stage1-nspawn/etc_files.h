// The pod's /etc/hostname, /etc/hosts and /etc/resolv.conf, as rkt made them: generated in the
// pod directory (etc/) or taken from the host, then bind-mounted into each app.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

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

// Writes the generated files into pod.etc_dir() and decides what each app gets. Throws an Error
// naming a malformed --hosts-entry or --dns value.
EtcFiles prepare_etc_files(const Pod& pod, const std::string& hostname, bool host_network);

// The text of the generated files (exposed for tests).
std::string hosts_text(const std::string& hostname, const std::vector<std::string>& entries);
std::string resolv_conf_text(const std::vector<std::string>& nameservers);

}  // namespace rkt::nspawn
