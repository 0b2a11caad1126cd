// The fly stage1's view of an app: its root filesystem (an overlay of the image tree with a
// per-pod upper layer, or the pod's own copy of the tree with --no-overlay), host /dev, /proc and
// /sys, a private /tmp and the app's volumes, all in a private mount namespace so nothing outlives
// the app.
#pragma once

#include <filesystem>

#include "common/pod_manifest.h"
#include "common/run_options.h"

namespace rkt::fly {

// Path of the app's root inside the pod directory.
std::filesystem::path app_root_path(const std::filesystem::path& pod_dir, const std::string& app);

// Builds the app root in the calling process's (new, private) mount namespace.
void build_app_root(const std::filesystem::path& pod_dir, const PodManifest& pod,
                    const RuntimeApp& app, const RunOptions& options);

}  // namespace rkt::fly
