// Everything about one app that can be decided (and checked) before any process starts: its
// overlay, mounts, command, environment, identity and isolation policy. `run` builds it for every
// app, `enter` for the app it enters.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/id_shift.h"
#include "common/isolation.h"
#include "stage1-nspawn/etc_files.h"
#include "stage1-nspawn/pod.h"

namespace rkt::nspawn {

struct MountPlan {
    stdfs::path source;  // on the host
    std::string target;  // absolute, inside the app's root
    bool directory = true;
    bool read_only = false;
    bool recursive = false;
    bool nodev = false;  // the pod's own directory (kind=empty): nothing there is a device
};

struct ExecPlan {
    std::vector<std::string> argv;  // argv[0]: absolute, or looked up in the environment's PATH
    std::vector<std::string> env;   // "NAME=value"
    std::string working_directory = "/";
};

struct AppPlan {
    std::string name;
    stdfs::path tree;       // the rendered image: the overlay's lower layer, or the pod's copy
    bool pod_copy = false;  // `tree` is the pod's own copy (--no-overlay): the root as it is
    stdfs::path upper;      // overlay upper and work directories, in the pod directory
    stdfs::path work;
    stdfs::path root;  // where the overlay is mounted (in the app's own mount namespace)
    bool read_only_rootfs = false;
    std::vector<MountPlan> mounts;
    ExecPlan exec;
    isolation::Policy policy;
    isolation::Identity identity;
    isolation::ResourceLimits limits;
};

// Builds and checks an app's plan; every mistake (missing volume source, bad isolator, unknown
// user, relative mount target, empty exec) is an Error naming the app and what is wrong.
AppPlan plan_app(const Pod& pod, const RuntimeApp& app, const EtcFiles& etc,
                 const isolation::InsecureOptions& insecure, bool interactive);

// The app's environment: its own variables, then rkt's defaults where it has none (PATH, HOME,
// TERM when interactive) and AC_APP_NAME.
std::vector<std::string> app_environment(const RuntimeApp& app, const isolation::Identity& id,
                                         bool interactive);

// Creates the pod's kind=empty volumes in sharedVolumes/ with their mode, uid and gid; in a
// user namespace (`shift`) the uid and gid are the pod's, moved to the host's by the shift.
void prepare_shared_volumes(const Pod& pod, const std::optional<IdShift>& shift = std::nullopt);

// The insecure options of a pod: run-options.json's, plus those the run flags add.
isolation::InsecureOptions insecure_options(const RunOptions& options);

}  // namespace rkt::nspawn
