// The pod's PID 1: starts the apps, forwards their output, reaps, records exit codes, and stops
// the pod when an app fails or when asked (SIGTERM: the apps get SIGTERM, then SIGKILL after the
// grace time).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/isolation.h"
#include "common/unique_fd.h"
#include "stage1-nspawn/app_plan.h"
#include "stage1-nspawn/app_root.h"
#include "stage1-nspawn/pod.h"

namespace rkt::nspawn {

// What `run` prepares for an app while it has the host's privileges (the pod init may be in a
// user namespace that cannot reach the pod directory): its plan and policy, and descriptors of
// its cgroups, its mount sources and its log.
struct AppLaunch {
    AppPlan plan;
    isolation::PreparedIsolation isolation;
    std::vector<UniqueFd> cgroup_fds;  // the app joins its cgroups through these
    AppRootSources sources;
    UniqueFd log;  // logs/<app>.log, for appending (non-interactive pods)
};

struct PodInitConfig {
    const Pod* pod = nullptr;
    std::string hostname;
    bool private_network = true;
    bool interactive = false;
    bool user_namespace = false;  // the pod init is the root of the pod's user namespace
    std::vector<AppLaunch> apps;
    UniqueFd status_dir;  // status/, where each app's exit code is written
    std::chrono::milliseconds grace{10'000};
    int go_fd = -1;     // read: one byte from `run` when the pod may start
    int ready_fd = -1;  // write: one byte to `run` once every app has started
};

// Runs in the child `run` forked into a new PID namespace (so as PID 1). Never returns: exits
// with the pod's status (the first non-zero app exit code, else 0), or 254 after printing a
// stage1 error.
[[noreturn]] void pod_init_main(PodInitConfig& config);

}  // namespace rkt::nspawn
