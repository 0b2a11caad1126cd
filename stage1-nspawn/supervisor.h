// `run`'s part while the pod runs, outside the pod (host PID namespace, a cgroup under none of
// the apps' limits): it copies the apps' output to its stdout and stderr and to their logs
// (rkt::CappedLog: bounded, rotated), relays its terminal or stdin to an interactive app,
// forwards stop signals to the pod init, and writes status/<app> (and status/<app>.reason) as
// the pod init reports each app's end. Whatever an app does to its memory, pids or output, this
// process and its bookkeeping are not in its reach.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/capped_log.h"
#include "common/unique_fd.h"
#include "stage1-nspawn/cgroups.h"
#include "stage1-nspawn/pod.h"

namespace rkt::nspawn {

// `run`'s ends of an app's streams.
struct SupervisedApp {
    std::string name;
    std::optional<uint64_t> memory_limit;  // for the OOM message
    UniqueFd out, err;  // read ends of the app's stdout and stderr pipes (not with a terminal)
    UniqueFd in;        // write end of its stdin pipe (interactive without a terminal)
    UniqueFd console;   // where its pty master comes from (interactive on a terminal)
    CappedLog log;      // logs/<app>.log (not interactive)
};

struct SupervisorConfig {
    const Pod* pod = nullptr;
    const PodCgroups* cgroups = nullptr;
    std::vector<SupervisedApp> apps;
    pid_t init = -1;
    UniqueFd report;       // from the pod init (pod_init.h), after its 'R'
    UniqueFd diagnostics;  // the pod init's stdout and stderr: copied to ours
    bool interactive = false;
};

// The signals the supervisor handles (through a signalfd): block them before the pod init is
// forked, so that none is lost before run_supervisor() starts.
sigset_t supervisor_signals();

// Runs until the pod init has exited and everything it and the apps wrote is copied; returns
// the pod's exit code (the pod init's).
int run_supervisor(SupervisorConfig& config);

// "app \"NAME\" was killed by the OOM killer (memory limit 64 MiB)", for the one line stage1
// prints.
std::string oom_message(const std::string& app, std::optional<uint64_t> memory_limit);

}  // namespace rkt::nspawn
