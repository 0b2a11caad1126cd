// The pod's cgroups. Where the pod goes: `rkt-<uuid>` right under the cgroup the `run` process
// was started in, in every hierarchy used, so that whatever wraps `rkt run` (systemd-run, a
// kubelet's pod cgroup) also wraps the pod. Inside it: `pod-init` for the stage1's own processes
// (`run` and the pod's PID 1, under no limit of the apps) and `app-<name>` for each app (leaves,
// as cgroup v2 wants). Limits: resource/memory, resource/cpu and resource/pids isolators on the
// app cgroups, and the device allow list (common/device_filter.h) on each app cgroup.
//
// cgroup v2 is used when /sys/fs/cgroup is a cgroup2 mount. Otherwise (v1, or the hybrid layout
// of these machines: v1 controllers plus a cgroup2 at /sys/fs/cgroup/unified with no useful
// controller) the v1 hierarchies of memory, cpu, pids and devices are used.
#pragma once

#include "common/unique_fd.h"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rkt::nspawn {

namespace stdfs = std::filesystem;

struct CgroupLimits {
    std::optional<uint64_t> memory_bytes;
    std::optional<uint64_t> cpu_millis;
    std::optional<uint64_t> cpu_shares;  // cpu.shares (v1), turned into cpu.weight on v2
    std::optional<uint64_t> pids_max;    // pids.max
    // The app named its pids limit: without a pids controller that is an error. The default
    // limit is applied wherever the controller is (cgroup v2 without delegation has none).
    bool pids_required = false;
};

struct CgroupLayout {
    bool v2 = false;
    // One directory per hierarchy: the pod's rkt-<uuid> in it. The first one is where a pod's
    // processes are looked up (`enter`).
    std::vector<stdfs::path> pod_dirs;
};

class PodCgroups {
public:
    // Reads the hierarchies from `mountinfo` and the caller's place from `self_cgroup` (the
    // text of /proc/self/mountinfo and /proc/self/cgroup); `root` prefixes every path (tests).
    static CgroupLayout plan(const std::string& uuid, const std::string& mountinfo,
                             const std::string& self_cgroup, const stdfs::path& root = "/");
    static CgroupLayout plan_for_this_process(const std::string& uuid);

    // Creates the pod's cgroups and applies the limits; throws an Error naming what failed.
    // An app with limits on a machine without the controller is an error, not a silent no-op.
    static PodCgroups create(const CgroupLayout& layout, const std::vector<std::string>& apps,
                             const std::vector<CgroupLimits>& app_limits,
                             const CgroupLimits& pod_limits);

    // The layout recorded in the pod directory's `cgroups` file (one directory per line).
    // Applies the device allow list to each app's cgroup: the v1 `devices` controller, or a BPF
    // device program on cgroup v2. A machine where neither can be done is an error (an app
    // could open the host's disks), not a silent no-op.
    void restrict_devices(const std::vector<std::string>& apps) const;

    static PodCgroups load(const stdfs::path& file);
    void save(const stdfs::path& file) const;

    const CgroupLayout& layout() const { return layout_; }
    // The files a single-threaded process writes "0" to, to join the pod init's or an app's
    // cgroups (join_cgroups()): `tasks` on cgroup v1, `cgroup.procs` on v2. On v1, writing the
    // pid of a whole process (cgroup.procs) takes the kernel's cgroup_threadgroup_rwsem for
    // writing, which waits for an RCU grace period: 5-20 ms in this VM, on every pod's start.
    // Moving the calling thread alone (`tasks`, "0") does not; for a process of one thread it is
    // the same move. v2 has no such file for domain cgroups.
    std::vector<stdfs::path> init_join_files() const { return join_files("pod-init"); }
    std::vector<stdfs::path> app_join_files(const std::string& app) const {
        return join_files("app-" + app);
    }
    // Host pids of the processes of an app (from the first hierarchy).
    std::vector<pid_t> app_pids(const std::string& app) const;
    // How many processes of the app's cgroup the OOM killer has killed (v1: memory.oom_control,
    // v2: memory.events, `oom_kill`); nullopt without a memory controller.
    std::optional<uint64_t> app_oom_kills(const std::string& app) const;

    // Kills what is left and removes every cgroup of the pod; missing ones are fine.
    void remove() const;

private:
    std::vector<stdfs::path> join_files(const std::string& leaf) const;
    CgroupLayout layout_;
};

// Writes "0" (the calling thread; the whole process when it has one thread, as every process
// of this stage1 does when it joins) to each of PodCgroups' join files. Returns false and sets
// errno on failure; it allocates nothing, so a forked child can call it.
bool join_cgroups(const std::vector<std::string>& join_files) noexcept;

// The same through descriptors `run` opened (for writing) while it had the host's privileges:
// a process in the pod's user namespace cannot open the host root's cgroup files, and the
// kernel checks the opener's credentials. The pod's cgroups are never handed to its root.
std::vector<UniqueFd> open_cgroup_join_files(const std::vector<stdfs::path>& join_files);
bool join_cgroups(const std::vector<UniqueFd>& join_fds) noexcept;

}  // namespace rkt::nspawn
