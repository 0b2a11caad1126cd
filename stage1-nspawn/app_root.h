// An app's root file system, made in the app's own mount namespace: the overlay of its image (or
// the pod's copy of it), /proc, /sys, a minimal /dev, its volumes and /etc files, its working
// directory; then pivot_root into it. The image's tree is mounted nodev: a device node in an
// image opens nothing (and the device allow list of the app's cgroup refuses what it lists not).
#pragma once

#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "stage1-nspawn/app_plan.h"
#include "stage1-nspawn/pty.h"

namespace rkt::nspawn {

// What an app's root is made from, taken by `run` while it has the host's privileges: with
// --private-users the app's process mounts as the pod's root, which may not reach the pod
// directory or a volume's source by path. Mount sources are detached clones (open_tree), which
// the app attaches in its own mount namespace.
struct AppRootSources {
    UniqueFd tree;                 // plan.pod_copy: the pod's copy of the tree (O_PATH)
    UniqueFd tree_mount;           // plan.pod_copy: a detached clone of it, to be the root
    std::vector<UniqueFd> mounts;  // a detached clone of each plan.mounts[i].source

    static AppRootSources open(const AppPlan& plan);
};

struct RootOptions {
    // The app gets a terminal of its own devpts (rkt run --interactive on a terminal), which is
    // also its /dev/console.
    bool terminal = false;
    bool user_namespace = false;  // the process is the root of the pod's user namespace
};

// Call in a process inside the pod's PID namespace (so that /proc shows the pod): makes the
// app's own mount namespace (a slave of the host's), mounts its root, makes its working
// directory (missing directories 0755, owned by the caller: as the fly and kvm stage1s do) and
// pivots into it. Afterwards "/" is the app's root. Returns the app's terminal when
// `options.terminal`. Throws an Error naming the mount that failed; a mount target or working
// directory that leads out of the root is refused.
Pty enter_app_root(const AppPlan& plan, const AppRootSources& sources, const RootOptions& options);

// argv[0] as execve wants it: unchanged when it holds a '/', else looked up in the PATH of
// `env` inside the current root. Throws an Error naming the program when it is not found.
std::string find_program(const std::string& name, const std::vector<std::string>& env);

}  // namespace rkt::nspawn
