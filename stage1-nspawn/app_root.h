// An app's root file system, made in the app's own mount namespace: the overlay of its image,
// /proc, /sys, a minimal /dev, its volumes and /etc files; then pivot_root into it.
#pragma once

#include <string>
#include <vector>

#include "stage1-nspawn/app_plan.h"

namespace rkt::nspawn {

// Call in a fresh mount namespace (unshare(CLONE_NEWNS)) of a process inside the pod's PID
// namespace (so that /proc shows the pod). Afterwards "/" is the app's root. Throws an Error
// naming the mount that failed; a mount target that leads out of the root is refused.
void enter_app_root(const AppPlan& plan, bool interactive);

// argv[0] as execve wants it: unchanged when it holds a '/', else looked up in the PATH of
// `env` inside the current root. Throws an Error naming the program when it is not found.
std::string find_program(const std::string& name, const std::vector<std::string>& env);

}  // namespace rkt::nspawn
