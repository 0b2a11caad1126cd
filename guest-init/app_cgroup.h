// The guest's cgroup v2 tree: guest-init in a cgroup of its own, outside every app's limits, and
// each app in its own cgroup under apps/ with its limits (memory, CPU, pids) and the device
// allow-list (a BPF_PROG_TYPE_CGROUP_DEVICE program). The app's processes, and the commands
// rkt enter runs in it, join that cgroup before they do anything else.
//
//   /sys/fs/cgroup/guest-init    PID 1 (oom_score_adj -1000)
//   /sys/fs/cgroup/apps/<app>    memory.max, memory.oom.group, cpu.max, cpu.weight, pids.max
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/guest_protocol.h"
#include "common/unique_fd.h"

namespace rkt::guest_init {

// The cpu.max period; a quota is millicores * 100 µs, at least the kernel's 1 ms.
inline constexpr uint64_t kCpuPeriodUs = 100'000;
inline constexpr uint64_t kMinCpuQuotaUs = 1'000;

// The values written to an app's cgroup files for its limits ("max" where it has none).
struct CgroupValues {
    std::string memory_max = "max";
    std::string cpu_max = "max 100000";
    std::string cpu_weight = "100";  // cgroup v2's default
    std::string pids_max = "max";
};
CgroupValues cgroup_values(const guest::AppLimits& limits);

// The oom_kill count of a memory.events file's text (0 when it has none).
uint64_t oom_kill_count(std::string_view memory_events);

// At boot, once cgroup2 is mounted at `root`: moves PID 1 into <root>/guest-init, makes it the
// OOM killer's last choice, and enables the cpu, memory and pids controllers for <root>/apps.
// Throws rkt::Error (the guest kernel lacks a controller, cgroup2 is not mounted).
void setup_guest_cgroups(const std::string& root = "/sys/fs/cgroup");

class AppCgroup {
public:
    AppCgroup() = default;
    // Creates <root>/apps/<app> with the app's limits and the device allow-list. Throws.
    static AppCgroup create(const std::string& app, const guest::AppLimits& limits,
                            const std::string& root = "/sys/fs/cgroup");

    bool valid() const { return static_cast<bool>(dir_); }
    // Makes the calling process a member (writes "0" to cgroup.procs); for a child between fork
    // and exec, so it allocates nothing and throws nothing. False with errno on failure.
    bool join() const noexcept;
    // How many of its processes the OOM killer ended so far (memory.events' oom_kill).
    uint64_t oom_kills() const;
    // SIGKILL to every process in it at once (cgroup.kill): a fork bomb cannot outrun it.
    void kill_all() const noexcept;

private:
    UniqueFd dir_;
    UniqueFd procs_;
};

}  // namespace rkt::guest_init
