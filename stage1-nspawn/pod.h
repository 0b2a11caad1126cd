// The pod directory as the nspawn entrypoints see it (cwd = the pod directory): the manifest,
// run-options.json, the apps' rendered trees, and the files this stage1 keeps there.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/pod_manifest.h"
#include "common/run_options.h"

namespace rkt::nspawn {

namespace stdfs = std::filesystem;

class Pod {
public:
    // The pod in the current directory, whose name must be `uuid`. Without `load_manifest` only
    // the directory is checked (gc and stop must work whatever the manifest holds).
    static Pod open_current(const std::string& uuid, bool load_manifest = true);

    const stdfs::path& dir() const { return dir_; }
    const std::string& uuid() const { return uuid_; }
    const PodManifest& manifest() const { return manifest_; }
    const RunOptions& options() const { return options_; }
    RunOptions& options() { return options_; }

    const RuntimeApp& app(const std::string& name) const;
    // The rendered tree of an app (appsinfo/<app>/rootfs: a symlink to the store's tree, or the
    // pod's own copy with --no-overlay), as a real directory path.
    stdfs::path app_tree(const std::string& name) const;
    // Whether appsinfo/<app>/rootfs is the pod's own copy (a directory, not a symlink): the app's
    // root as it is, with no overlay.
    bool app_tree_is_copy(const std::string& name) const;

    // Files this stage1 keeps in the pod directory.
    stdfs::path overlay_dir(const std::string& app) const { return dir_ / "overlay" / app; }
    stdfs::path shared_volume(const std::string& volume) const {
        return dir_ / "sharedVolumes" / volume;
    }
    stdfs::path etc_dir() const { return dir_ / "etc"; }
    stdfs::path log_file(const std::string& app) const { return dir_ / "logs" / (app + ".log"); }
    stdfs::path status_file(const std::string& app) const { return dir_ / "status" / app; }
    stdfs::path pid_file() const { return dir_ / "pid"; }
    stdfs::path cgroups_file() const { return dir_ / "cgroups"; }

    // The pod init's pid from `pid`, checked to be a live process of this pod's stage1: in its
    // `pod-init` cgroup, or working in this pod directory (so a stale file never makes us signal
    // a stranger). nullopt when the file is missing or the process is gone.
    std::optional<pid_t> running_init_pid() const;

private:
    stdfs::path dir_;
    std::string uuid_;
    PodManifest manifest_;
    RunOptions options_;
};

// The default hostname of a pod, "rkt-<uuid>".
std::string default_hostname(const std::string& uuid);
// Whether `name` is a valid hostname (RFC 1123 labels, at most 64 characters in all).
bool is_valid_hostname(const std::string& name);

}  // namespace rkt::nspawn
