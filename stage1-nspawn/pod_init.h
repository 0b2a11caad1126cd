// The pod's PID 1: starts the apps, forwards their output, reaps, records exit codes, and stops
// the pod when an app fails or when asked (SIGTERM: the apps get SIGTERM, then SIGKILL after the
// grace time).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/isolation.h"
#include "stage1-nspawn/app_plan.h"
#include "stage1-nspawn/pod.h"

namespace rkt::nspawn {

struct AppLaunch {
    AppPlan plan;
    isolation::PreparedIsolation isolation;
    std::vector<std::string> cgroup_files;  // the app joins its cgroups through these
};

struct PodInitConfig {
    const Pod* pod = nullptr;
    std::string hostname;
    bool private_network = true;
    bool interactive = false;
    std::vector<AppLaunch> apps;
    std::chrono::milliseconds grace{10'000};
    int go_fd = -1;     // read: one byte from `run` when the pod may start
    int ready_fd = -1;  // write: one byte to `run` once every app has started
};

// Runs in the child `run` forked into a new PID namespace (so as PID 1). Never returns: exits
// with the pod's status (the first non-zero app exit code, else 0), or 254 after printing a
// stage1 error.
[[noreturn]] void pod_init_main(PodInitConfig& config);

}  // namespace rkt::nspawn
