// The pod spec (host → guest): the pod's apps, their isolation and limits, volumes, /etc/hosts
// and resolv.conf. Its structs, the one validation both sides run, its codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/guest_protocol/framing.h"

namespace rkt::guest {

inline constexpr size_t kMaxApps = 64;
inline constexpr uint32_t kMaxDiskIndex = 63;
inline constexpr uint32_t kDefaultStopGraceMs = 10'000;
// An empty volume's mode when none is given (rkt's default), and the largest one allowed.
inline constexpr uint32_t kDefaultVolumeMode = 0755;
inline constexpr uint32_t kMaxVolumeMode = 07777;
// (uid_t)-1 means "leave unchanged" to chown(2): not an id a volume can be given.
inline constexpr uint32_t kMaxId = UINT32_MAX - 1;
// The largest values of an app's limits (AppLimits): a memory limit above what any VM can have
// (the VM's size is the apps' limits summed, at most 1 TiB), 1000 CPUs, cgroup v2's highest
// weight, the kernel's PID_MAX_LIMIT.
inline constexpr uint64_t kMaxMemoryLimit = uint64_t{1} << 40;
inline constexpr uint32_t kMaxCpuMillis = 1'000'000;
inline constexpr uint32_t kMaxCpuWeight = 10'000;
inline constexpr uint32_t kMaxPids = 1u << 22;
// A pod's network interfaces (InterfaceSpec): how many, and the bounds of each one's parts.
inline constexpr size_t kMaxInterfaces = 8;
inline constexpr size_t kMaxInterfaceAddresses = 16;
inline constexpr size_t kMaxInterfaceRoutes = 64;
inline constexpr size_t kMaxInterfaceName = 15;  // IFNAMSIZ - 1
inline constexpr uint32_t kMinMtu = 68;          // IPv4's minimum (RFC 791)
inline constexpr uint32_t kMaxMtu = 65535;

// The isolation settings: common/isolation's Policy on the wire (isolation_policy.h converts),
// computed on the host from the app's isolators and --insecure-options; guest-init applies them
// with the same shared code.
struct SeccompSettings {
    enum class Mode {
        kRetain,  // allow-list: only `syscalls` are allowed
        kRemove,  // deny-list: everything but `syscalls` is allowed
    };
    Mode mode = Mode::kRetain;
    bool all = false;                   // @appc.io/all: retain = no restriction, remove = deny all
    std::vector<std::string> syscalls;  // names, groups already expanded by the host
    // Allowed only with Docker's argument checks (clone, personality) when they came from a
    // default group.
    std::vector<std::string> argument_filtered;
    int errno_value = 1;  // what a denied call returns; 0 kills the process (SIGSYS)
    bool operator==(const SeccompSettings&) const = default;
};

struct IsolationSettings {
    // The capability bounding set ("CAP_CHOWN", ...); nullopt = not restricted.
    std::optional<std::vector<std::string>> capabilities;
    // The capabilities were named explicitly (a retain-set): a non-root app holds them too.
    bool capabilities_granted_to_non_root = false;
    std::optional<SeccompSettings> seccomp;  // nullopt = no filter
    bool masked_paths = true;                // mask and make read-only /proc and /sys paths
    bool no_new_privileges = true;
    std::optional<int> oom_score_adj;  // -1000..1000
    bool operator==(const IsolationSettings&) const = default;
};

// What an app may use, enforced by its own cgroup in the guest (cgroup v2); nullopt = no limit of
// its own (the VM's size still bounds it). Computed by the host from the app's isolators.
struct AppLimits {
    std::optional<uint64_t> memory_bytes;  // memory.max, 1..kMaxMemoryLimit (the guest has no swap)
    std::optional<uint32_t> cpu_millis;    // cpu.max: millicores, 1..kMaxCpuMillis
    std::optional<uint32_t> cpu_weight;    // cpu.weight, 1..kMaxCpuWeight
    std::optional<uint32_t> pids_max;      // pids.max: processes and threads, 1..kMaxPids
    bool operator==(const AppLimits&) const = default;
};

struct VolumeSpec {
    enum class Kind {
        k9p,    // a host directory exported over virtio-9p under `tag`
        kEmpty  // a tmpfs in the guest, shared by the apps that mount it
    };
    std::string name;  // ACName
    Kind kind = Kind::kEmpty;
    std::string tag;  // 9p mount tag (k9p only)
    bool read_only = false;
    // The tmpfs root's mode (at most 07777), owner and group (kEmpty only; a 9p share keeps
    // the host directory's).
    uint32_t mode = kDefaultVolumeMode;
    uint32_t uid = 0;
    uint32_t gid = 0;
    bool operator==(const VolumeSpec&) const = default;
};

struct MountSpec {
    std::string volume;  // a VolumeSpec name
    std::string path;    // absolute, inside the app's rootfs
    bool read_only = false;
    bool operator==(const MountSpec&) const = default;
};

// The dm-verity parameters of an app's disk (format 1, SHA-256, 4 KiB blocks, the hash tree on
// the same disk after the data): guest-init mounts the app's image through a verity target, so
// a block of the disk that differs from what the host measured reads as an I/O error.
struct DiskVerity {
    uint64_t data_blocks = 0;       // 4 KiB blocks of erofs data at the start of the disk
    uint64_t hash_start_block = 0;  // the hash tree's first block, in 4 KiB blocks; >= data_blocks
    std::string root_hash;          // SHA-256, 64 lower-case hex digits
    std::string salt;               // 32 bytes, 64 lower-case hex digits
    bool operator==(const DiskVerity&) const = default;
};

struct GuestApp {
    std::string name;               // ACName, unique in the pod
    std::vector<std::string> exec;  // argv; exec[0] absolute, or looked up in the env's PATH
    std::vector<std::string> env;   // "NAME=value"
    // appc user and group: a number, a name (from the image's /etc/passwd, /etc/group) or an
    // absolute path (its owner). Resolved in the guest, where the image is mounted.
    std::string user = "0";
    std::string group = "0";
    std::vector<uint32_t> supplementary_gids;
    std::string working_dir = "/";
    uint32_t disk = 0;        // virtio-blk index of the app's erofs image: 0 = /dev/vda
    std::string disk_serial;  // when set, the disk is found by its virtio-blk serial instead
    std::optional<DiskVerity> verity;  // absent: the disk is mounted as it is
    IsolationSettings isolation;
    AppLimits limits;
    std::vector<MountSpec> mounts;
    bool operator==(const GuestApp&) const = default;
};

struct HostsEntry {
    std::string ip;
    std::vector<std::string> names;
    bool operator==(const HostsEntry&) const = default;
};

struct DnsConfig {
    std::vector<std::string> nameservers;
    std::vector<std::string> search;
    std::vector<std::string> options;
    std::string domain;  // resolv.conf's "domain" line, "" for none
    bool operator==(const DnsConfig&) const = default;
};

// A route of a pod interface, as the CNI plugins left it in the pod's network namespace on the
// host: the guest gets the same table.
struct RouteSpec {
    std::string destination;  // CIDR: "0.0.0.0/0", "172.16.28.1/32", "fd00::/64"
    std::string gateway;      // "" for a route on the link itself
    uint32_t metric = 0;
    bool operator==(const RouteSpec&) const = default;
};

// A network interface of the pod: a virtio-net NIC whose MAC is that of the pod's veth on the
// host (the frames of both are the same, redirected by tc); guest-init finds it by MAC, names it,
// sets its MTU and addresses (without prefix routes), brings it up, then adds the routes.
struct InterfaceSpec {
    std::string name;                    // eth0, eth1, ...: at most 15 characters of [a-z0-9_-]
    std::string mac;                     // "aa:bb:cc:dd:ee:ff", unique in the pod
    uint32_t mtu = 1500;                 // 68..65535
    std::vector<std::string> addresses;  // CIDR, IPv4 or IPv6, at most 16
    std::vector<RouteSpec> routes;       // at most 64
    bool operator==(const InterfaceSpec&) const = default;
};

struct PodSpec {
    static constexpr MessageType kType = MessageType::kPodSpec;
    std::string hostname;
    std::vector<GuestApp> apps;
    std::vector<VolumeSpec> volumes;
    uint32_t stop_grace_ms = kDefaultStopGraceMs;  // SIGTERM → SIGKILL
    // Written to each app's /etc/hosts (with localhost); empty keeps the image's file, or writes
    // rkt's fallback when the image has none.
    std::vector<HostsEntry> hosts_entries;
    std::optional<DnsConfig> dns;           // written to /etc/resolv.conf when set
    std::vector<InterfaceSpec> interfaces;  // at most 8; none: loopback only
    bool debug = false;                     // guest-init sends debug-level Log messages
    bool operator==(const PodSpec&) const = default;
};

// Checks a PodSpec (names, paths, limits); throws rkt::Error naming the offending field. The
// encoder runs it before writing, the decoder after reading: a bad spec never leaves the host.
void validate_pod_spec(const PodSpec& spec);
inline void validate(const PodSpec& spec) {
    validate_pod_spec(spec);
}
void encode_body(const PodSpec& spec, Frame& frame);
void decode_body(const Frame& frame, PodSpec& spec);

}  // namespace rkt::guest
