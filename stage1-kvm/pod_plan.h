// Everything a kvm pod's VM is made of, decided (and checked) before any VM starts: the guest
// protocol's PodSpec (apps, environment, user, isolation policy, volumes, hostname, /etc files),
// one read-only disk per app image, the host directories shared over virtio-9p, and the VM's
// size. Every mistake is an Error naming the app or volume and what is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/guest_protocol.h"
#include "common/pod_manifest.h"
#include "common/resolv_conf.h"
#include "common/run_options.h"

namespace rkt::kvm {

namespace stdfs = std::filesystem;

struct AppDisk {
    std::string app;
    stdfs::path image;   // the app's erofs image (appsinfo/<app>/image.erofs, resolved)
    std::string serial;  // rkt-app-<index>: how guest-init finds it
};

struct HostShare {  // a kind=host volume, exported over virtio-9p
    std::string volume;
    std::string tag;
    stdfs::path source;
    bool read_only = false;
};

struct VmSize {
    uint32_t memory_mib = 0;
    uint32_t vcpus = 1;
};

struct PodPlan {
    guest::PodSpec spec;
    std::vector<AppDisk> disks;  // disk i belongs to spec.apps[i]
    std::vector<HostShare> shares;
    VmSize size;
};

// Memory every VM gets on top of the apps' limits: the guest kernel, guest-init, the page cache
// of the images and the tmpfs upper layers.
inline constexpr uint32_t kBaseMemoryMib = 128;

struct PlanInputs {
    const PodManifest* manifest = nullptr;
    RunOptions options;  // run-options.json with the run flags applied
    std::string uuid;
    stdfs::path pod_dir;
    // Where --hosts-entry=host and --dns=host read the host's files (tests point elsewhere).
    stdfs::path host_etc = "/etc";
    unsigned host_cpus = 1;
};

PodPlan plan_pod(const PlanInputs& in);

// The VM's size from run-options.json's sums: kBaseMemoryMib + the memory limits (MiB, rounded
// up); one vCPU per started 1000 millicores, at least 1 and at most the host's CPUs.
VmSize vm_size(const RunOptions& options, unsigned host_cpus);

// /etc/hosts entries from --hosts-entry values: "IP=NAME" (grouped by IP, first-seen order), or
// the single value "host" for the entries of the host's hosts file.
std::vector<guest::HostsEntry> hosts_entries(const std::vector<std::string>& values,
                                             const stdfs::path& host_hosts_file);
// resolv.conf from the --dns flags (common/resolv_conf.h's rules): nameserver IPs with
// --dns-search/--dns-opt/--dns-domain, "host" (the host's file, parsed), "none" or no flag (the
// image's own file: nullopt; or `network_dns`, a CNI network's, when given).
std::optional<guest::DnsConfig> dns_config(
    const RunOptions& o, const stdfs::path& host_resolv_conf,
    const std::optional<ResolvConf>& network_dns = std::nullopt,
    const std::string& network_name = "");

// "rkt-<uuid>".
std::string default_hostname(const std::string& uuid);

}  // namespace rkt::kvm
