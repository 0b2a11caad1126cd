// The pod's PID 1: starts the apps, reaps them, tells `run` how each ended, and stops the pod
// when an app fails or when asked (SIGTERM: the apps get SIGTERM, then SIGKILL after the grace
// time). Once the apps are set up, and before any of them runs, it holds nothing of the host:
// its root is an empty tmpfs of its own (init_root.h), its descriptors are pipes to `run` and
// to the apps' set-up, its only capability is CAP_KILL. The apps' output, their logs and the
// status files are `run`'s business, outside the pod.
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
// its cgroups, its mount sources and its standard streams.
struct AppLaunch {
    AppPlan plan;
    isolation::PreparedIsolation isolation;
    std::vector<UniqueFd> cgroup_fds;  // the app joins its cgroups through these
    AppRootSources sources;
    // The app's standard streams, the pod's side of what `run` copies: the write ends of its
    // stdout and stderr pipes and (interactive without a terminal) the read end of its stdin
    // pipe; with a terminal, a socket on which the app's process hands `run` its pty master.
    UniqueFd out, err, in, console;

    // Closes every descriptor above (the process no longer needs them, or they are another
    // app's).
    void release();
};

struct PodInitConfig {
    const Pod* pod = nullptr;
    std::string hostname;
    bool private_network = true;
    bool terminal = false;        // the (one, interactive) app gets a pty of the pod's devpts
    bool interactive = false;     // the app's stdin is `run`'s, through a pipe or the pty
    bool user_namespace = false;  // the pod init is the root of the pod's user namespace
    std::vector<AppLaunch> apps;
    // What the pod init keeps once the apps are set up: CAP_KILL, no_new_privs.
    isolation::PreparedIsolation self;
    std::chrono::milliseconds grace{10'000};
    int go_fd = -1;      // read: one byte from `run` when the pod may start
    int report_fd = -1;  // write: to `run`, see below
};

// What the pod init tells `run` on `report_fd`: 'N' once its namespaces exist, 'R' once every
// app runs, then one line per app that ended: "exit <app index> <exit code> <wait status>\n".
inline constexpr char kReportNamespaces = 'N';
inline constexpr char kReportRunning = 'R';

// Runs in the child `run` forked into a new PID namespace (so as PID 1). Never returns: exits
// with the pod's status (the first non-zero app exit code, else 0), or 254 after printing a
// stage1 error.
[[noreturn]] void pod_init_main(PodInitConfig& config);

}  // namespace rkt::nspawn
