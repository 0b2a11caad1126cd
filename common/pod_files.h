// The stage1 side of the pod directory contract (docs/architecture.md): the files every stage1
// writes and reads, in one place.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/pod_manifest.h"

namespace rkt::pod_files {

namespace stdfs = std::filesystem;

PodManifest read_manifest(const stdfs::path& pod_dir);
void write_pid(const stdfs::path& pod_dir, pid_t pid);
std::optional<pid_t> read_pid(const stdfs::path& pod_dir);
void write_app_status(const stdfs::path& pod_dir, const std::string& app, int exit_code);
// Why an app ended, where its exit code alone does not tell: `status/<app>.reason` holds one
// word (an ACName has no '.', so the file never names an app). Written before status/<app>.
inline constexpr std::string_view kAppEndOomKilled = "oom-killed";  // the OOM killer's SIGKILL
void write_app_end_reason(const stdfs::path& pod_dir, const std::string& app,
                          std::string_view reason);
std::optional<std::string> read_app_end_reason(const stdfs::path& pod_dir, const std::string& app);
stdfs::path app_log_path(const stdfs::path& pod_dir, const std::string& app);
// The rendered image tree of an app (appsinfo/<app>/rootfs, resolved).
stdfs::path app_image_tree(const stdfs::path& pod_dir, const std::string& app);
// The erofs image of an app (appsinfo/<app>/image.erofs, resolved).
stdfs::path app_image_erofs(const stdfs::path& pod_dir, const std::string& app);
// True while the pod's lock is held, i.e. the pod is alive.
bool pod_is_alive(const stdfs::path& pod_dir);

// Stops a pod by signalling `pid`: SIGTERM, then SIGKILL when the pod is still alive after
// `grace` (at once with `force`). Returns when the pod's lock is released or after the kill.
void signal_pod(const stdfs::path& pod_dir, pid_t pid, bool force,
                std::chrono::milliseconds grace = std::chrono::seconds(10));

}  // namespace rkt::pod_files
