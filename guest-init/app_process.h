// Starting one app: a child process in its own mount namespace, pivoted into the app's overlay
// root with a minimal /dev, /proc, /sys and /tmp, the app's /etc files, credentials and
// isolation, then exec. Whatever goes wrong before exec comes back as a LaunchFailure.
#pragma once

#include <sys/types.h>

#include <string>
#include <variant>
#include <vector>

#include "common/guest_protocol.h"
#include "common/unique_fd.h"
#include "guest-init/app_cgroup.h"
#include "guest-init/app_rootfs.h"

namespace rkt::guest_init {

struct LaunchedApp {
    pid_t pid = -1;
    UniqueFd stdout_fd;  // read ends, non-blocking
    UniqueFd stderr_fd;
};

struct LaunchFailure {
    int exit_code = 126;  // 127: program not found; 126: cannot execute or set up
    std::string reason;   // "could not execute: ..." or "could not start: ..."
};

using LaunchResult = std::variant<LaunchedApp, LaunchFailure>;

// The app's process starts in `cgroup`. Throws rkt::Error for failures before fork (e.g. an
// unresolvable user).
LaunchResult launch_app(const guest::GuestApp& app, const guest::PodSpec& pod,
                        const AppPaths& paths, const AppCgroup& cgroup);

// Runs `command` (rkt enter) in the context of the running app whose main process is `app_pid`:
// its cgroup, mount namespace and root, environment, working directory, user and isolation.
// Throws rkt::Error for failures before fork.
LaunchResult launch_exec(const guest::GuestApp& app, const AppPaths& paths, const AppCgroup& cgroup,
                         pid_t app_pid, const std::vector<std::string>& command);

}  // namespace rkt::guest_init
