// The guest protocol: framed, versioned messages between the kvm stage1 (host) and guest-init,
// over a virtio-console port. Both ends use this code. docs/guest-protocol.md is the reference
// for the bytes on the wire; this header is the reference for the C++ API.
//
// A frame is a 20-byte header, a JSON object, and an optional binary payload:
//   magic "RKTG" | version u16 | type u16 | sequence u32 | json_length u32 | payload_length u32
// (little-endian). Every field of every message is checked on decoding: the peer is hostile.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rkt::guest {

// 2: Exec, ExecSignal, ExecStarted, ExecOutput and ExecExited (rkt enter).
// 3: an empty volume's mode, uid and gid.
// 4: an app's limits (its cgroup in the guest) and AppExited's oom_killed.
inline constexpr uint16_t kProtocolVersion = 4;
inline constexpr size_t kHeaderSize = 20;
inline constexpr size_t kMaxJsonLength = 1024 * 1024;
inline constexpr size_t kMaxPayloadLength = 64 * 1024;
// The largest AppOutput chunk guest-init sends (well below kMaxPayloadLength).
inline constexpr size_t kOutputChunkSize = 32 * 1024;
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
// Commands run with Exec (rkt enter) at the same time, at most.
inline constexpr size_t kMaxExecs = 16;
// The name of the virtio-serial port that carries the protocol (guest: /sys/class/virtio-ports/
// */name). A VMM whose virtio-console has a single console port instead names it on the kernel
// command line with rkt.guest_port=/dev/hvc0.
inline constexpr std::string_view kPortName = "org.rkt.guest.0";

enum class MessageType : uint16_t {
    // host → guest
    kPodSpec = 0x0001,
    kStopPod = 0x0002,
    kSignal = 0x0003,
    kExec = 0x0004,
    // 0x0005 reserved: AppInput (stdin)
    kExecSignal = 0x0006,
    // guest → host
    kReady = 0x0101,
    kAppStarted = 0x0102,
    kAppOutput = 0x0103,
    kAppExited = 0x0104,
    kPodExited = 0x0105,
    kLog = 0x0106,
    kError = 0x0107,
    kExecStarted = 0x0108,
    kExecOutput = 0x0109,
    kExecExited = 0x010A,
};

// "PodSpec", "AppExited", ...; "unknown" for a value outside the enum.
std::string_view message_type_name(MessageType type);
bool is_known_message_type(uint16_t type);

// ---- host → guest ----

// The isolation settings mirror common/isolation's Policy, computed on the host from the app's
// isolators and --insecure-options; guest-init applies them with the same shared code.
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
    bool operator==(const DnsConfig&) const = default;
};

struct PodSpec {
    std::string hostname;
    std::vector<GuestApp> apps;
    std::vector<VolumeSpec> volumes;
    uint32_t stop_grace_ms = kDefaultStopGraceMs;  // SIGTERM → SIGKILL
    // Written to each app's /etc/hosts (with localhost); empty keeps the image's file, or writes
    // rkt's fallback when the image has none.
    std::vector<HostsEntry> hosts_entries;
    std::optional<DnsConfig> dns;  // written to /etc/resolv.conf when set
    bool debug = false;            // guest-init sends debug-level Log messages
    bool operator==(const PodSpec&) const = default;
};

struct StopPod {
    bool force = false;  // false: SIGTERM, SIGKILL after stop_grace_ms; true: SIGKILL now
    bool operator==(const StopPod&) const = default;
};

struct SignalApps {
    std::string app;  // empty: every running app
    int signal = 0;   // 1..64
    bool operator==(const SignalApps&) const = default;
};

// Runs a command in a running app's context (rkt enter): its mount namespace, root, environment,
// user, working directory and isolation. `id` names the command in the replies.
struct Exec {
    uint32_t id = 0;                // 1..2^31-1, unique among the commands still running
    std::string app;                // the app whose context the command gets
    std::vector<std::string> exec;  // argv; exec[0] absolute, or looked up in the app's PATH
    bool operator==(const Exec&) const = default;
};

// A signal to a command started with Exec (its process group).
struct ExecSignal {
    uint32_t id = 0;
    int signal = 0;  // 1..64
    bool operator==(const ExecSignal&) const = default;
};

// ---- guest → host ----

struct Ready {
    uint64_t monotonic_ns = 0;   // guest CLOCK_MONOTONIC when guest-init sent it (≈ since boot)
    std::string kernel_release;  // uname -r
    bool operator==(const Ready&) const = default;
};

struct AppStarted {
    std::string app;
    int32_t pid = 0;  // in the guest
    bool operator==(const AppStarted&) const = default;
};

enum class Stream : uint8_t { kStdout, kStderr };

struct AppOutput {
    std::string app;
    Stream stream = Stream::kStdout;
    std::string data;  // raw bytes (the frame's payload), at most kMaxPayloadLength
    bool operator==(const AppOutput&) const = default;
};

struct AppExited {
    std::string app;
    int exit_code = 0;  // 0..255: status, 128+signal, or 126/127 when it could not execute
    int signal = 0;     // the signal that ended it, 0 if it exited
    std::string error;  // non-empty when it never ran: "could not execute: ..."
    // The OOM killer ended it (its cgroup's memory.events counted an oom_kill; signal is SIGKILL).
    bool oom_killed = false;
    bool operator==(const AppExited&) const = default;
};

// The Exec command `id` was executed.
struct ExecStarted {
    uint32_t id = 0;
    int32_t pid = 0;  // in the guest
    bool operator==(const ExecStarted&) const = default;
};

// Output of the Exec command `id` (the frame's payload).
struct ExecOutput {
    uint32_t id = 0;
    Stream stream = Stream::kStdout;
    std::string data;
    bool operator==(const ExecOutput&) const = default;
};

// The Exec command `id` ended, or never ran (`error` says why, as AppExited's does).
struct ExecExited {
    uint32_t id = 0;
    int exit_code = 0;
    int signal = 0;
    std::string error;
    bool operator==(const ExecExited&) const = default;
};

struct PodExited {
    int exit_code = 0;  // the first non-zero app exit code (in time), else 0
    bool operator==(const PodExited&) const = default;
};

struct LogMessage {
    enum class Level { kDebug, kInfo, kWarning, kError };
    Level level = Level::kInfo;
    std::string message;
    bool operator==(const LogMessage&) const = default;
};

struct ErrorMessage {
    std::string message;
    bool operator==(const ErrorMessage&) const = default;
};

using Message =
    std::variant<PodSpec, StopPod, SignalApps, Ready, AppStarted, AppOutput, AppExited, PodExited,
                 LogMessage, ErrorMessage, Exec, ExecSignal, ExecStarted, ExecOutput, ExecExited>;

MessageType message_type(const Message& message);

// One frame as it travels: the header's type and sequence, the JSON text and the payload.
struct Frame {
    MessageType type = MessageType::kLog;
    uint32_t sequence = 0;
    std::string json;
    std::string payload;  // AppOutput and ExecOutput only
};

// Checks a PodSpec as the decoder does (names, paths, limits); throws rkt::Error naming the
// offending field. The host calls it through encoding, so a bad spec never leaves the host.
void validate_pod_spec(const PodSpec& spec);

// Message → Frame (sequence 0; FrameWriter numbers frames). Throws rkt::Error when the message
// breaks the protocol's rules (e.g. a PodSpec that does not validate, an oversized payload).
Frame to_frame(const Message& message);
// Frame → Message, strictly: unknown or missing keys, wrong JSON types, out-of-range values and a
// payload on a message that has none are all errors (rkt::Error).
Message decode_message(const Frame& frame);

// The bytes of a frame: header + JSON + payload. Throws rkt::Error when over the limits.
std::string serialize_frame(const Frame& frame);

// Splits a byte stream into frames, whatever the chunking. The first malformed header (bad magic,
// unknown version or type, oversized length, out-of-sequence number) throws rkt::Error, and every
// later call throws the same error: a stream that lost its framing cannot be trusted again.
class FrameReader {
public:
    void feed(std::string_view bytes);
    // The next complete frame, or nullopt when more bytes are needed.
    std::optional<Frame> next();
    // next() and decode_message() together.
    std::optional<Message> next_message();
    // Reads what `fd` has (one read(2)) and feeds it. Returns false at end of file; returns true
    // without data on EAGAIN/EINTR. Throws rkt::Error on other read errors.
    bool read_from(int fd);
    size_t buffered() const { return buffer_.size() - consumed_; }

private:
    [[noreturn]] void fail(std::string message);
    std::string buffer_;
    size_t consumed_ = 0;
    uint32_t expected_sequence_ = 1;
    std::optional<std::string> failure_;
};

// Numbers frames from 1 and writes them.
class FrameWriter {
public:
    // The bytes of the next frame (assigns its sequence number).
    std::string encode(const Message& message);
    // Writes the whole frame to `fd`, waiting (poll) while a non-blocking fd is full.
    // Throws rkt::Error when the fd fails or the peer is gone.
    void write(int fd, const Message& message);

private:
    uint32_t next_sequence_ = 1;
};

}  // namespace rkt::guest
